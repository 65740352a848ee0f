"""The client side of one WebSocket connection: what a test talks to.

>>> async with client.websocket_connect("/ws") as ws:  # doctest: +SKIP
...     await ws.send_text("hi")
...     assert await ws.receive_text() == "echo: hi"
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, NamedTuple

from yaat.constants import close_code_problem, close_reason_problem
from yaat.datastructures import Headers
from yaat.protocol import WebSocketState
from yaat.types import Message
from yaat.websockets import (
    JSONMode,
    WebSocketDisconnect,
    WebSocketMessageTypeError,
    decode_json,
    encode_json,
)
from yaat_testing import defaults
from yaat_testing.exceptions import ConcurrentReceiveError, UnexpectedMessage, WebSocketTimeout
from yaat_testing.loops import is_cancellation, running_loop
from yaat_testing.rules import unencodable_at
from yaat_testing.transcript import Transcript
from yaat_testing.transports.base import Connection

_CONNECTED = WebSocketState.CONNECTED


class Close(NamedTuple):
    """How a connection ended: the close code and reason."""

    code: int
    reason: str


class WebSocketSession:
    """A WebSocket client connected to the app.

    Every wait takes ``timeout=`` (seconds); the default comes from the client.
    """

    def __init__(self, connection: Connection, timeout: float) -> None:
        self._connection = connection
        #: The receive under way, if any: a second one at the same time is refused.
        self._receiving: str | None = None
        self.timeout = timeout
        #: CONNECTED until the app closes, the connection drops, or :meth:`close`.
        self.state = WebSocketState.CONNECTED
        #: The close code, once the app closed or the connection dropped (1006).
        self.close_code: int | None = None
        #: The close reason, once the app closed.
        self.close_reason: str | None = None
        #: Whether reading is paused (:meth:`pause_reading`).
        self.reading_paused = False
        transcripts = defaults.current().transcripts
        if transcripts is not None:
            transcripts.append(connection.transcript)

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the app accepted with, or ``None``."""
        return self._connection.subprotocol

    @property
    def accept_headers(self) -> Headers:
        """The extra headers the app sent with ``websocket.accept``."""
        return Headers(self._connection.accept_headers)

    @property
    def transcript(self) -> Transcript:
        """Every message both ways, with timestamps; ``print(ws.transcript)``."""
        return self._connection.transcript

    # -- sending ----------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        """Send a raw ``websocket.receive`` or ``websocket.disconnect`` message to the app."""
        self._check_sendable(message)
        await self._connection.send(message)
        if message["type"] == "websocket.disconnect":
            self._disconnected(message.get("code", 1000), message.get("reason") or "")

    def _disconnected(self, code: int, reason: str) -> None:
        """This side sent its close: closed with what the server answered, where it is
        known already (daphne: 1000), or with its own code and reason."""
        self._closed(*(self._connection.closed or (code, reason)))

    def _check_sendable(self, message: Message) -> None:
        """Raise what a real client would if it could not send *message* now."""
        kind = message.get("type") if isinstance(message, dict) else None
        if kind != "websocket.receive" and kind != "websocket.disconnect":
            raise ValueError(
                f"send() takes a 'websocket.receive' or 'websocket.disconnect' message, got "
                f"{message!r:.100}: no client can make a server deliver anything else; use "
                "send_text(), send_bytes() or close()"
            )
        problem = client_message_problem(message)
        if problem is not None:
            raise problem
        if self.state is not _CONNECTED:
            raise WebSocketDisconnect(self.close_code or 1000, self.close_reason)
        closed = self._connection.closed
        if closed is not None:
            # The app's close frame is on its way: a real client refuses to send now.
            raise WebSocketDisconnect(*closed)

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        if (
            type(data) is str
            and data.isascii()  # O(1) for a str: no lone surrogate to refuse
            and self.state is _CONNECTED
            and self._connection.closed is None
        ):
            # The plain case, sent as send() would (its checks all pass): the busiest call.
            await self._connection.send({"type": "websocket.receive", "text": data})
            return
        await self.send(text_message(data))

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        await self.send(bytes_message(data))

    async def send_json(self, data: Any, mode: JSONMode = "text") -> None:
        """Send *data* as JSON, as a text message or (``mode="bytes"``) a binary one."""
        await self.send(json_message(data, mode))

    # -- receiving --------------------------------------------------------------------

    async def receive(self, timeout: float | None = None) -> Message:
        """The app's next raw message: ``websocket.send``, or ``websocket.close`` at the end.

        After the end, every call returns the same close message again.
        """
        return await self._receive(timeout, "receive()")

    async def _receive(self, timeout: float | None, call: str) -> Message:
        if timeout is not None:
            check_timeout(timeout, call)
        if self.state is not _CONNECTED:
            # What came before the server's close is still read, as a real client reads it.
            pending = self._connection.receive_nowait()
            if pending is not None:
                return pending
            return {"type": "websocket.close", "code": self.close_code, "reason": self.close_reason}
        if self._receiving is not None:
            raise ConcurrentReceiveError(call, self._receiving)
        if self.reading_paused:
            raise RuntimeError(
                f"{call} while reading is paused: probably you called pause_reading() to "
                "play a client that does not read; call resume_reading() before receiving"
            )
        self._receiving = call
        try:
            message = await self._connection.receive(self.timeout if timeout is None else timeout)
        finally:
            self._receiving = None
        self._note_close(message)
        return message

    def _note_close(self, message: Message) -> None:
        """A received ``websocket.close`` ends the session, unless it has ended already."""
        if message["type"] != "websocket.send" and self.state is _CONNECTED:
            self._closed(message.get("code", 1000), message.get("reason") or "")

    async def receive_text(self, timeout: float | None = None) -> str:
        """The next text message; ``WebSocketDisconnect`` if the app closed."""
        if (
            timeout is None
            and self._receiving is None
            and self.state is _CONNECTED
            and not self.reading_paused
        ):
            # _receive(), inlined for the busiest call: one coroutine fewer per message.
            self._receiving = "receive_text()"
            try:
                message = await self._connection.receive(self.timeout)
            finally:
                self._receiving = None
            text = message.get("text")
            if type(text) is str:
                return text
            self._note_close(message)
        else:
            message = await self._receive(timeout, "receive_text()")
        return text_of(message, "receive_text()")

    async def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next binary message; ``WebSocketDisconnect`` if the app closed."""
        return bytes_of(await self._receive(timeout, "receive_bytes()"), "receive_bytes()")

    def _receive_ready(self) -> Message | None:
        """A data message that is there already, taken without waiting; or ``None``.

        The sync API calls it from its own thread: the connection only hands over a
        plain data message at the head of its channel, which only this side takes.
        """
        if not self._takes_ready():
            return None
        return self._connection.receive_nowait()

    def _takes_ready(self) -> bool:
        """Whether a receive now may take a data message without the loop's checks: the
        session is open, reads, and no other receive waits."""
        return self.state is _CONNECTED and self._receiving is None and not self.reading_paused

    # -- flow control -----------------------------------------------------------------

    def pause_reading(self, buffer: int | None = None) -> None:
        """Stop reading, as a client that is slow or stuck: the app's sends pile up.

        Once *buffer* payload bytes are waiting, the app's next ``send()`` waits until
        :meth:`resume_reading`, as on a real server once its buffers and the OS's are
        full.  By default *buffer* is what the server profile measured
        (``profile.send_buffer``, about 4 MB on uvicorn); a small one makes a test fast.
        Live, the real server's and OS's buffers apply and *buffer* is not used.
        """
        if buffer is not None and (not isinstance(buffer, int) or buffer < 0):
            raise ValueError(f"pause_reading(buffer=...) takes a byte count >= 0, got {buffer!r}")
        self._connection.pause_reading(buffer)
        self.reading_paused = True

    def resume_reading(self) -> None:
        """Read again: what piled up arrives in order, and a waiting ``send()`` goes on."""
        self._connection.resume_reading()
        self.reading_paused = False

    async def receive_json(self, mode: JSONMode = "text", timeout: float | None = None) -> Any:
        """The next message parsed as JSON, from text or (``mode="bytes"``) UTF-8 bytes."""
        call = f"receive_json(mode={mode!r})"
        if mode not in ("text", "bytes"):
            raise ValueError(f"{call}: mode must be 'text' or 'bytes', got {mode!r}")
        data = await (self.receive_text(timeout) if mode == "text" else self.receive_bytes(timeout))
        return decode_json(call, data)

    # -- helpers ----------------------------------------------------------------------

    async def receive_close(self, timeout: float | None = None) -> Close:
        """Wait for the app to close and return ``Close(code, reason)``.

        >>> assert (await ws.receive_close()).code == 1008  # doctest: +SKIP

        A data message arriving first raises :class:`UnexpectedMessage`, since
        skipping it would hide what the app said.
        """
        message = await self.receive(timeout)
        if message["type"] != "websocket.close":
            raise UnexpectedMessage(
                f"expected the app to close, but it sent a message first: {message!r}"
            )
        return Close(message["code"], message["reason"])

    async def receive_matching(
        self,
        predicate: Callable[[Any], object],
        *,
        decode: Literal["raw", "text", "bytes", "json"] = "raw",
        timeout: float | None = None,
    ) -> Any:
        """The first message for which *predicate* is true; the ones before are skipped.

        >>> event = await ws.receive_matching(lambda e: e["type"] == "join", decode="json")  # doctest: +SKIP

        With ``decode="raw"`` the predicate gets the raw ``websocket.send`` message;
        with ``"text"``, ``"bytes"`` or ``"json"`` it gets the decoded data, and
        messages of the other kind are skipped.  Skipped messages stay in the
        transcript, noted ``[skipped]``.  *timeout* bounds the whole search; a close
        before a match raises ``WebSocketDisconnect``.
        """
        if decode not in ("raw", "text", "bytes", "json"):
            raise ValueError(
                f"receive_matching(decode={decode!r}): use 'raw', 'text', 'bytes' or 'json'"
            )
        loop = running_loop()
        budget = self.timeout if timeout is None else timeout
        deadline = loop.time() + budget
        skipped = 0
        while True:
            remaining = deadline - loop.time()
            try:
                message = await self._receive(max(remaining, 0.0), "receive_matching()")
            except TimeoutError:
                raise WebSocketTimeout(
                    f"a message matching {_name(predicate)} ({skipped} skipped)",
                    budget,
                    str(self.transcript),
                ) from None
            if message["type"] == "websocket.close":
                raise WebSocketDisconnect(message["code"], message["reason"])
            key = {"text": "text", "json": "text", "bytes": "bytes"}.get(decode)
            data: Any = message if key is None else message.get(key)
            if key is not None and data is not None and decode == "json":
                data = decode_json("receive_matching(decode='json')", data)
            if data is not None and predicate(data):
                return data
            skipped += 1
            self.transcript.note(message, "skipped")

    async def assert_nothing_received(self, within: float = 0.05) -> None:
        """Assert that the app sends nothing (not even a close) for *within* seconds."""
        if self.state is not WebSocketState.CONNECTED:
            raise UnexpectedMessage(
                f"the connection already ended with code {self.close_code}: {self.close_reason!r}"
            )
        try:
            message = await self._receive(within, "assert_nothing_received()")
        except TimeoutError:
            return
        raise UnexpectedMessage(f"expected no message within {within:g}s, got {message!r}")

    # -- closing ----------------------------------------------------------------------

    async def close(self, code: int = 1000, reason: str = "", timeout: float | None = None) -> None:
        """Disconnect with *code* and *reason*, then wait (bounded) for the app to finish."""
        connection = self._connection
        if self.state is _CONNECTED and connection.closed is None:
            if code != 1000 or reason:  # the plain close every session ends with passes
                problem = close_problem(code, reason)
                if problem is not None:
                    raise problem
            # send(), without the checks that just passed: every session ends here.
            disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
            if not connection.send_nowait(disconnect):
                await connection.send(disconnect)
            self._disconnected(code, reason)
        await connection.aclose(self.timeout if timeout is None else timeout, code, reason)
        if self.state is WebSocketState.CONNECTED and self._connection.closed is not None:
            self._closed(*self._connection.closed)

    def _closed(self, code: int, reason: str) -> None:
        self.state = WebSocketState.DISCONNECTED
        self.close_code = code
        self.close_reason = reason

    async def drop(self, timeout: float | None = None) -> None:
        """The connection drops without a close frame, as when the network fails.

        The app is told what its server tells it (uvicorn: ``websocket.disconnect``
        1005), and the session ends with 1006.  Then it waits (bounded) for the app.
        """
        if self.state is _CONNECTED:
            self._connection.drop()
            self._closed(1006, "")
        await self._connection.finish(self.timeout if timeout is None else timeout)

    async def __aenter__(self) -> WebSocketSession:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if exc is None:
            await self.close()
            return
        # The test is already failing: clean up, and add what the harness knows.
        app_error = getattr(self._connection, "app_error", None)
        await self._connection.abandon()
        notes = [str(self.transcript)]
        if app_error is not None and app_error is not exc:
            notes.insert(0, f"the app also raised {app_error!r}")
        if hasattr(exc, "add_note") and not is_cancellation(exc):
            for note in notes:
                exc.add_note(note)


def check_timeout(timeout: object, call: str) -> None:
    """Refuse a *timeout* that is not a number of seconds >= 0."""
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"{call}: timeout is a number of seconds, got {timeout!r}")
    if timeout < 0:
        raise ValueError(f"{call}: timeout must be >= 0 seconds, got {timeout!r}")


def text_problem(text: str, call: str) -> Exception | None:
    """Why a client cannot send *text*: a lone surrogate, which UTF-8 cannot encode."""
    at = unencodable_at(text)
    if at is None:
        return None
    return ValueError(
        f"{call}: the text holds {text[at]!r} at index {at}, a lone "
        "surrogate that UTF-8 cannot encode, so no client can send it (the websockets "
        "client raises UnicodeEncodeError). Probably the text was decoded with "
        "'surrogateescape' or built from JSON escapes; encode it properly, or send bytes"
    )


def close_problem(code: object, reason: object) -> Exception | None:
    """Why a client cannot send a close frame with *code* and *reason*, or ``None``."""
    problem = close_code_problem(code) or close_reason_problem(reason)
    if problem is None:
        return None
    hint = " To end the connection without a close frame, use drop()." if code == 1006 else ""
    return (TypeError if "must be" in problem else ValueError)(
        f"close(code={code!r}, reason={reason!r:.40}): a client cannot send it: {problem}.{hint}"
    )


def client_message_problem(message: Message) -> Exception | None:
    """Why no client can send *message* (a ``websocket.receive`` or ``.disconnect``)."""
    if message["type"] == "websocket.disconnect":
        return close_problem(message.get("code", 1000), message.get("reason") or "")
    text, data = message.get("text"), message.get("bytes")
    if (text is None) == (data is None):
        return ValueError(
            f"send() takes a 'websocket.receive' message with one of 'text' or 'bytes', got "
            f"{message!r:.100}: a WebSocket message is text or binary, never both or neither"
        )
    if text is not None:
        if not isinstance(text, str):
            return TypeError(f"send(): 'text' must be a str, got {type(text).__name__}")
        return text_problem(text, "send_text()")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        return TypeError(f"send(): 'bytes' must be bytes, got {type(data).__name__}")
    return None


def _name(predicate: Callable[[Any], object]) -> str:
    return getattr(predicate, "__qualname__", None) or repr(predicate)


def text_message(data: str) -> Message:
    """The ``websocket.receive`` message that carries *data* as text."""
    if type(data) is not str and not isinstance(data, str):
        raise TypeError(f"send_text() takes a str, got {type(data).__name__}: use send_bytes()")
    return {"type": "websocket.receive", "text": data}


def bytes_message(data: bytes) -> Message:
    """The ``websocket.receive`` message that carries *data* as bytes."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"send_bytes() takes bytes, got {type(data).__name__}: use send_text()")
    return {"type": "websocket.receive", "bytes": bytes(data)}


def json_message(data: Any, mode: JSONMode) -> Message:
    """The ``websocket.receive`` message that carries *data* as JSON, text or bytes."""
    key, payload = encode_json(f"send_json(mode={mode!r})", data, mode)
    return {"type": "websocket.receive", key: payload}


def _not_data(message: Message, call: str) -> Exception:
    """The error for a message that is not the data asked for: a close, or the other kind."""
    if message["type"] == "websocket.close":
        return WebSocketDisconnect(message["code"], message["reason"])
    return WebSocketMessageTypeError(call, message)


def text_of(message: Message, call: str) -> str:
    """The text of a data message, or the error a client raises instead."""
    text = message.get("text")
    if type(text) is not str:
        raise _not_data(message, call)
    return text


def bytes_of(message: Message, call: str) -> bytes:
    """The bytes of a data message, or the error a client raises instead."""
    data = message.get("bytes")
    if type(data) is not bytes:
        raise _not_data(message, call)
    return data
