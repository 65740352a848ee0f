"""Granian's embedded server, in the test's own event loop.

>>> GranianServer.name
'granian'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from yaat_testing.servers.base import LiveServer, free_port, wait_until_listening


class GranianServer(LiveServer):
    """Granian (Rust) with its ASGI interface, embedded in the running loop."""

    name = "granian"

    _server: Any = None
    _task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        from granian.constants import Interfaces
        from granian.server.embed import Server

        # Granian binds by address and port: find a free one, then give it to granian.
        self.port = free_port()
        # "Embedded server is experimental!" is granian's warning, not the test's.
        logging.getLogger("_granian").setLevel(logging.CRITICAL)
        self._server = Server(
            self.app,
            address="127.0.0.1",
            port=self.port,
            interface=Interfaces.ASGI if self.lifespan != "off" else Interfaces.ASGINL,
            url_path_prefix=self.root_path or None,
            log_enabled=False,
        )
        self._task = asyncio.get_running_loop().create_task(self._server.serve())
        await wait_until_listening(self.port, self._task, self.timeout, "granian")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._server.stop()
            await asyncio.wait({task}, timeout=self.timeout * 2)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=self.timeout)
            with contextlib.suppress(BaseException):
                task.result()
            await _granian_watchers_ended(min(self.timeout, 1.0))


async def _granian_watchers_ended(timeout: float) -> None:
    """Wait (bounded) for the tasks granian made to watch its Rust futures: it cancels
    them as it stops, and they end a few loop turns later."""
    watchers = {
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").endswith("future_watcher")
    }
    if watchers:
        await asyncio.wait(watchers, timeout=timeout)
