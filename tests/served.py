"""An app served for real by ``yaat run`` in a subprocess, as a user deploys it.

>>> async with served("examples.chat:app") as server:  # doctest: +SKIP
...     async with connect(server.ws("/ws/lobby")) as ws: ...
>>> assert "Traceback" not in server.stderr  # doctest: +SKIP

The process binds 127.0.0.1 on a free port, is stopped with SIGTERM when the block ends
(killed if it outlives *stop_timeout*), and its stderr is kept for the test to read.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from yaat_testing.servers.base import free_port, wait_until_listening

ROOT = Path(__file__).resolve().parent.parent


class Served:
    """One serving process: where it listens, and (once stopped) what it logged."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process = process
        self.port = port
        #: Its stderr, once it has stopped.
        self.stderr = ""
        # Read all along: a process that logs more than a pipe holds would block.
        assert process.stderr is not None
        self._reading = asyncio.ensure_future(process.stderr.read())

    def ws(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def http(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def terminate(self, timeout: float) -> int:
        """SIGTERM, then wait (bounded); kill it if it does not stop.  Its exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
        self.stderr = (await self._reading).decode("utf-8", "replace")
        assert self.process.returncode is not None
        return self.process.returncode


@contextlib.asynccontextmanager
async def served(
    app: str,
    *options: str,
    env: Mapping[str, str] | None = None,
    start_timeout: float = 15.0,
    stop_timeout: float = 15.0,
    port: int | None = None,
) -> AsyncIterator[Served]:
    """Serve *app* (``module:attribute``) with ``yaat run`` and *options*, on *port* (a
    free one unless given: a server started again on the same port)."""
    port = free_port() if port is None else port
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "yaat.cli", "run", app, "--port", str(port), *options],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    server = Served(process, port)
    exited = asyncio.ensure_future(process.wait())
    try:
        try:
            await wait_until_listening(port, exited, start_timeout, "yaat run")
        except RuntimeError as failed:
            await server.terminate(1.0)
            raise RuntimeError(f"{failed}:\n{server.stderr}") from None
        yield server
    finally:
        exited.cancel()
        await server.terminate(stop_timeout)
