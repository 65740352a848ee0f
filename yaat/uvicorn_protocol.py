"""uvicorn's websockets-sansio protocol, with every close bounded in time.

``yaat run`` serves WebSockets with :class:`BoundedWebSocketsProtocol`, passed as
uvicorn's own ``ws`` setting (the class, not a fork).  With plain uvicorn, name it::

    uvicorn app:app --ws yaat.uvicorn_protocol:BoundedWebSocketsProtocol

What it changes, and why:

- **A close that cannot be flushed drops the connection.**  uvicorn closes with
  ``transport.close()``, which waits until the socket's buffer is sent; a peer that
  never reads never takes it, so the connection, its handler and what was queued for
  it stay for ever.  Here, a transport still closing :data:`CLOSE_FLUSH_TIMEOUT`
  seconds after ``close()`` is aborted, and the app gets ``websocket.disconnect``.
  This bounds the keepalive's close, the app's close (a room's 1013 included), and
  the 1012 close at shutdown, so SIGTERM no longer waits for such a client.
- **The keepalive timeout tells the app.**  uvicorn closes with 1011 and says nothing;
  here the app gets ``websocket.disconnect`` with 1011 at once.
- **A close while the socket is full is not stuck behind it.**  uvicorn's ``send()``
  waits until the peer reads, a close too; here the close frame is queued behind what
  is buffered, and the bound above applies.
- **A send after the server's own close raises** ``ClientDisconnected`` (an
  ``OSError``, as ASGI 2.4 says), not ``RuntimeError``: after uvicorn closed with 1009,
  1007, 1002 or at a keepalive timeout, the app had not read the disconnect yet.
- **Invalid UTF-8 from a client** closes with 1007 and an INFO line, not an ERROR with
  a traceback: it is the client's mistake, not the server's.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from yaat.constants import WebSocketCloseEvent

#: Seconds a close may take to flush before the connection is dropped (aborted).
CLOSE_FLUSH_TIMEOUT = 5.0


class ClosingBound:
    """A transport whose ``close()`` ends within *timeout* seconds: aborted after that.

    Everything else is the transport's own.  ``lost()`` says the connection has ended,
    which cancels the pending abort.
    """

    def __init__(self, transport: asyncio.Transport, timeout: float) -> None:
        self.transport = transport
        self.timeout = timeout
        self._abort: asyncio.TimerHandle | None = None
        self._lost = False
        # What uvicorn calls for every message, bound once: no lookup through
        # __getattr__ on the way to each write.
        self.write = transport.write
        self.is_closing = transport.is_closing
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)

    def close(self) -> None:
        self.transport.close()
        if self._abort is None and not self._lost:
            loop = asyncio.get_running_loop()
            self._abort = loop.call_later(self.timeout, self.transport.abort)

    def lost(self) -> None:
        self._lost = True
        if self._abort is not None:
            self._abort.cancel()


class BoundedWebSocketsProtocol(WebSocketsSansIOProtocol):
    """uvicorn's ``websockets-sansio`` protocol, with closes bounded in time (see the
    module's documentation)."""

    close_flush_timeout = CLOSE_FLUSH_TIMEOUT

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.transport = ClosingBound(self.transport, self.close_flush_timeout)  # type: ignore[assignment]
        self.app_closed = False

    def connection_lost(self, exc: Exception | None) -> None:
        bound = self.transport
        if isinstance(bound, ClosingBound):
            bound.lost()
        super().connection_lost(exc)

    def keepalive_timeout(self) -> None:
        told = not self.close_sent and not self.transport.is_closing()
        super().keepalive_timeout()
        if told:
            code = WebSocketCloseEvent.INTERNAL_ERROR
            message = {"type": "websocket.disconnect", "code": code, "reason": ""}
            self.queue.put_nowait(message)  # type: ignore[arg-type]

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type != "text" or self.close_sent:
            super().send_receive_event_to_app()
            return
        # uvicorn's own text branch, with its ERROR and traceback made an INFO line.
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        try:
            text = data.decode()
        except UnicodeDecodeError:
            client = f"{self.client[0]}:{self.client[1]} - " if self.client else ""
            self.logger.info("%sinvalid UTF-8 in a text message: closed with 1007", client)
            self.conn.send_close(WebSocketCloseEvent.INVALID_FRAME_PAYLOAD_DATA)
            self.handle_parser_exception()
            return
        self.queue.put_nowait({"type": "websocket.receive", "text": text})  # type: ignore[arg-type]
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def send(self, message: ASGISendEvent) -> Coroutine[Any, Any, None]:
        # Not a coroutine itself: a room's delivery costs one coroutine, uvicorn's own.
        if self.close_sent and not self.app_closed and self.initial_response is None:
            return self._gone()  # the server closed it: the peer is gone for the app
        if message["type"] == "websocket.close" and self.handshake_complete:
            self.app_closed = True
            if not self.close_sent and not self.writable.is_set():
                return self._close_behind_buffer(message.get("code", 1000), message.get("reason"))
        return super().send(message)

    async def _gone(self) -> None:
        raise ClientDisconnected()

    async def _close_behind_buffer(self, code: int, reason: str | None) -> None:
        """The app's close while the peer does not read: queue the close frame behind
        what is buffered, and close (bounded: the peer may never take it)."""
        reason = reason or ""
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.transport.close()
