"""uvicorn, in the test's own event loop, with either of its WebSocket implementations.

>>> UvicornServer.ws, UvicornWsprotoServer.ws
('websockets-sansio', 'wsproto')
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
from typing import Any

from yaat_testing.servers.base import LiveServer, loopback_socket


class UvicornServer(LiveServer):
    """uvicorn with its default WebSocket implementation, websockets-sansio."""

    name = "uvicorn"
    ws = "websockets-sansio"

    _server: Any = None
    _task: asyncio.Task[None] | None = None
    _socket: socket.socket | None = None

    async def start(self) -> None:
        import uvicorn  # live mode only: the in-memory harness never needs it

        sock = self._socket = loopback_socket()
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app,
            interface="asgi3",  # a bound method would pass for ASGI 2 in uvicorn's guess
            ws=self.ws,
            lifespan=self.lifespan,  # type: ignore[arg-type]
            root_path=self.root_path,
            log_level="critical",  # the app's errors are raised in the test instead
            timeout_graceful_shutdown=max(1, math.ceil(self.timeout)),
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._serve(sock))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not self._server.started and not self._task.done():
            if loop.time() > deadline:
                await self.stop()
                raise TimeoutError(f"uvicorn did not start within {self.timeout:g}s")
            await asyncio.sleep(0.005)
        if not self._server.started:
            await self.stop()
            raise RuntimeError("uvicorn did not start")

    async def _serve(self, sock: socket.socket) -> None:
        # SystemExit is uvicorn's word for a failed startup; start() reports it.
        with contextlib.suppress(SystemExit):
            await self._server.serve(sockets=[sock])

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            self._server.should_exit = True
            await asyncio.wait({task}, timeout=self.timeout * 2)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=self.timeout)
        if self._socket is not None:
            self._socket.close()
            self._socket = None


class UvicornWsprotoServer(UvicornServer):
    """uvicorn with its wsproto WebSocket implementation."""

    name = "uvicorn-wsproto"
    ws = "wsproto"
