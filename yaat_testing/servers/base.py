"""What live mode needs of a server: start serving an app on loopback, and stop.

Example::

    server = UvicornServer(app, lifespan="auto", root_path="", timeout=5.0)
    await server.start()   # serving on 127.0.0.1:server.port
    await server.stop()
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import socket
from collections.abc import Callable
from typing import Any

from yaat.types import ASGIApp


class LiveServer(abc.ABC):
    """A real server serving *app* on 127.0.0.1 and a free port, in the running loop.

    *app* is live mode's wrapper around the user's app: it sees every connection and
    every lifespan message, so the server only has to serve it.
    """

    #: The name ``TestClient(server=...)`` takes.
    name: str

    def __init__(self, app: ASGIApp, *, lifespan: str, root_path: str, timeout: float) -> None:
        self.app = app
        self.lifespan = lifespan
        self.root_path = root_path
        self.timeout = timeout
        #: The port it listens on, once started.
        self.port = 0

    @abc.abstractmethod
    async def start(self) -> None:
        """Serve until :meth:`stop`; return once the server accepts connections.

        Raise ``RuntimeError`` if it cannot start (the lifespan's own failure is
        reported by the caller, which sees the lifespan messages).
        """

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop serving, lifespan shutdown included, within a bounded time."""


ServerFactory = Callable[..., LiveServer]


def free_port() -> int:
    """A port free on 127.0.0.1 a moment ago, for servers that bind by number."""
    with contextlib.closing(loopback_socket()) as sock:
        port: int = sock.getsockname()[1]
        return port


async def wait_until_listening(
    port: int, serving: asyncio.Task[Any], timeout: float, name: str
) -> None:
    """Return once 127.0.0.1:*port* accepts connections; raise if *serving* ends first."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not serving.done():
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            if loop.time() > deadline:
                raise TimeoutError(f"{name} did not start within {timeout:g}s") from None
            await asyncio.sleep(0.005)
            continue
        writer.close()
        await writer.wait_closed()
        return
    error = serving.exception() if not serving.cancelled() else None
    raise RuntimeError(f"{name} did not start: {error!r}") from error


def loopback_socket() -> socket.socket:
    """A TCP socket bound to 127.0.0.1 and a free port, not yet listening, with Nagle's
    algorithm off, as uvicorn and hypercorn have it when they bind an address themselves.

    Both set ``TCP_NODELAY``: uvicorn's socket is made with ``IPPROTO_TCP``, so that
    asyncio sets it on every connection; hypercorn sets it on the listening socket,
    whose connections inherit it.  A socket made without it (asyncio checks the
    protocol number, and ``socket.socket()`` leaves it 0) keeps Nagle's algorithm: the
    server's second small message after a client's message waits 40 ms for an ACK.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock
