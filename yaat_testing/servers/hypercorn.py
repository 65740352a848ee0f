"""Hypercorn, in the test's own event loop.

>>> HypercornServer.name
'hypercorn'
"""

from __future__ import annotations

import asyncio
import contextlib

from yaat_testing.servers.base import LiveServer, loopback_socket, wait_until_listening


class HypercornServer(LiveServer):
    """Hypercorn's asyncio worker, serving on a socket bound here."""

    name = "hypercorn"

    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event | None = None

    async def start(self) -> None:
        from hypercorn.asyncio import serve
        from hypercorn.config import Config

        sock = loopback_socket()
        self.port = sock.getsockname()[1]
        config = Config()
        config.bind = [f"fd://{sock.detach()}"]  # hypercorn owns it now, and closes it
        config.root_path = self.root_path
        config.loglevel = "CRITICAL"  # the app's errors are raised in the test instead
        config.accesslog = None
        config.graceful_timeout = float(self.timeout)
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(
            serve(self.app, config, shutdown_trigger=self._stop.wait, mode="asgi")  # type: ignore[arg-type]
        )
        await wait_until_listening(self.port, self._task, self.timeout, "hypercorn")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and self._stop is not None:
            self._stop.set()
            await asyncio.wait({task}, timeout=self.timeout * 2)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=self.timeout)
            with contextlib.suppress(BaseException):
                task.result()  # a failed lifespan shutdown is reported by the caller
