"""A WebSocket client that never reads: the peer that no close can reach.

>>> stuck = await NeverReads.open(port, "/ws/lobby")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket


class NeverReads:
    """A WebSocket client on a raw socket that completes the handshake and never reads
    again: no pong, no close, a receive window that fills."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    @classmethod
    async def open(cls, port: int, path: str) -> NeverReads:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.setblocking(False)
        await loop.sock_connect(sock, ("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        await loop.sock_sendall(
            sock,
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode(),
        )
        head = b""
        while b"\r\n\r\n" not in head:
            head += await loop.sock_recv(sock, 1)  # nothing past the handshake is read
        assert head.startswith(b"HTTP/1.1 101"), head
        return cls(sock)

    def close(self) -> None:
        self.sock.close()
