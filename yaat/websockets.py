"""The server side of a WebSocket connection.

>>> async def handler(websocket: WebSocket) -> None:
...     await websocket.accept()
...     async for text in websocket.iter_text():
...         await websocket.send_text(f"echo: {text}")
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from functools import cached_property
from typing import Any, Literal

from yaat.constants import (
    DEFAULT_MAX_MESSAGE_SIZE,
    WebSocketCloseEvent,
    close_code_problem,
    close_reason_problem,
    http_status_problem,
)
from yaat.datastructures import Headers
from yaat.protocol import (
    DENIAL_EXTENSION,
    Side,
    WebSocketState,
    allowed,
    describe_allowed,
    next_state,
)
from yaat.requests import HTTPConnection
from yaat.types import Message, Receive, Scope, Send

JSONMode = Literal["text", "bytes"]


# (when the call happened, how to fix it), by side and state.
_STATE_ADVICE: dict[tuple[str, WebSocketState], tuple[str, str]] = {
    ("application", WebSocketState.CONNECTING): (
        "before accept()",
        "call await websocket.accept() first",
    ),
    ("application", WebSocketState.CONNECTED): (
        "after accept()",
        "the connection is already accepted: accept() or deny() only once, before sending",
    ),
    ("application", WebSocketState.RESPONSE): (
        "during a denial response",
        "finish the response with websocket.http.response.body; nothing else may follow",
    ),
    ("application", WebSocketState.DISCONNECTED): (
        "after close()",
        "the application already closed this connection; do not use it after close()",
    ),
    ("client", WebSocketState.CONNECTING): (
        "before websocket.connect",
        "the server must deliver websocket.connect first; this is a server bug",
    ),
    ("client", WebSocketState.CONNECTED): (
        "while connected",
        "the server sent a message the ASGI spec does not allow here; this is a server bug",
    ),
    ("client", WebSocketState.DISCONNECTED): (
        "after the client disconnected",
        "stop receiving once WebSocketDisconnect has been raised",
    ),
}


#: What uvicorn's ``RuntimeError`` says for a send after a close the app did not send.
SERVER_ALREADY_CLOSED = "after sending 'websocket.close'"

_CONNECTED = WebSocketState.CONNECTED
_DISCONNECTED = WebSocketState.DISCONNECTED
_APPLICATION = Side.APPLICATION
_CLIENT = Side.CLIENT


class WebSocketDisconnect(Exception):
    """The connection ended: raised by ``receive_*`` and by sends to a peer that is gone.

    ``code`` is the close code (1006 when the connection dropped without a close
    frame) and ``reason`` the close reason, ``""`` when there was none.
    """

    def __init__(self, code: int = 1000, reason: str | None = None) -> None:
        self.code = int(code)
        self.reason = reason or ""
        detail = f": {self.reason}" if self.reason else ""
        super().__init__(f"WebSocket disconnected with code {self.code}{detail}")


class WebSocketStateError(RuntimeError):
    """A call that the connection's state does not allow: the application's own misuse.

    >>> str(WebSocketStateError("send_text()", WebSocketState.CONNECTING))
    "send_text() before accept(): the application state is CONNECTING (allowed here: 'websocket.accept', 'websocket.close' or 'websocket.http.response.start'); call await websocket.accept() first"

    The allowed messages come from the protocol table (``yaat.protocol``).
    """

    def __init__(
        self,
        call: str,
        state: WebSocketState,
        *,
        side: Literal["application", "client"] = "application",
    ) -> None:
        self.call = call
        self.state = state
        self.side = side
        when, fix = _STATE_ADVICE[(side, state)]
        allowed = describe_allowed(Side(side), state)
        super().__init__(
            f"{call} {when}: the {side} state is {state.name} (allowed here: {allowed}); {fix}"
        )


class WebSocketMessageTypeError(TypeError):
    """A message of the other kind arrived: text for ``receive_bytes()``, or bytes for text.

    ``message`` is the raw ASGI message, so nothing is lost.
    """

    def __init__(self, call: str, message: Message) -> None:
        self.call = call
        self.message = message
        if message.get("bytes") is not None:
            arrived = f"a binary message ({len(message['bytes'])} bytes)"
            fix = "use receive_bytes(), or receive() to take either kind"
        elif message.get("text") is not None:
            arrived = f"a text message ({len(message['text'])} characters)"
            fix = "use receive_text(), or receive() to take either kind"
        else:
            arrived = "a websocket.receive message with neither 'text' nor 'bytes'"
            fix = "the server broke the ASGI spec; use receive() to inspect it"
        super().__init__(f"{call} got {arrived}: {fix}")


class WebSocketDecodeError(ValueError):
    """A message that could not be decoded; ``data`` holds it as it arrived.

    ``close_code`` is the code that answers it: 1007 (invalid payload data) for bytes
    that are not UTF-8 or JSON text with a lone surrogate, 1003 (unsupported data) for
    what is not JSON.
    """

    def __init__(
        self,
        call: str,
        data: str | bytes,
        problem: str,
        close_code: int = WebSocketCloseEvent.UNSUPPORTED_DATA,
    ) -> None:
        self.call = call
        self.data = data
        self.problem = problem
        self.close_code = int(close_code)
        kind = f"{len(data)} bytes" if isinstance(data, bytes) else f"{len(data)} characters"
        super().__init__(f"{call} could not decode the message ({kind}): {problem}")


class WebSocketEncodeError(ValueError):
    """Text that UTF-8 cannot encode (a lone surrogate), refused before any send.

    >>> check_text("send_text()", "ok \\ud800")
    Traceback (most recent call last):
    ...
    yaat.websockets.WebSocketEncodeError: send_text() got text that UTF-8 cannot encode: a lone surrogate '\\ud800' at index 3 of 4 characters; such text comes from json.loads('"\\\\ud800"') or a 'surrogateescape' decode: refuse it where it came in (receive_json() does), or replace it with text.encode("utf-8", "replace").decode()

    ``text`` is what was refused.
    """

    def __init__(self, call: str, text: str, error: UnicodeEncodeError) -> None:
        self.call = call
        self.text = text
        surrogate = text[error.start]
        super().__init__(
            f"{call} got text that UTF-8 cannot encode: a lone surrogate "
            f"{surrogate!r} at index {error.start} of {len(text)} characters; such text "
            """comes from json.loads('"\\\\ud800"') or a 'surrogateescape' decode: refuse """
            "it where it came in (receive_json() does), or replace it with "
            'text.encode("utf-8", "replace").decode()'
        )


def check_text(call: str, text: str) -> None:
    """Refuse text that cannot become a text frame, whoever built it: a server would fail
    to encode it, and the connection (or a room's member) with it."""
    if text.isascii():
        return
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        raise WebSocketEncodeError(call, text, error) from None


class ASGISpecVersionError(RuntimeError):
    """The server's ASGI ``spec_version`` is too old for what was asked."""

    def __init__(self, feature: str, needed: str, have: str) -> None:
        self.feature = feature
        super().__init__(
            f"{feature} needs ASGI websocket spec_version {needed}, but the server declares "
            f"{have}: upgrade the server, or leave {feature} out"
        )


def encode_json(call: str, data: Any, mode: object) -> tuple[str, str | bytes]:
    """``("text", str)`` or ``("bytes", UTF-8 bytes)``: *data* as compact JSON for *mode*."""
    _check_mode(call, mode)
    encoded = json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    check_text(call, encoded)
    return ("text", encoded) if mode == "text" else ("bytes", encoded.encode("utf-8"))


# A JSON escape of a surrogate: only then can json.loads() return a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def decode_json(call: str, data: str | bytes) -> Any:
    """Parse a JSON message, text or UTF-8 bytes; ``WebSocketDecodeError`` keeps *data*."""
    invalid = WebSocketCloseEvent.INVALID_FRAME_PAYLOAD_DATA
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            problem = f"not valid UTF-8 ({exc.reason})"
            raise WebSocketDecodeError(call, data, problem, invalid) from exc
    else:
        text = data
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise WebSocketDecodeError(call, data, f"not valid JSON ({exc})") from exc
    if _SURROGATE_ESCAPE.search(text) is not None:
        try:
            json.dumps(parsed, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            problem = (
                f"a lone surrogate {exc.object[exc.start]!r} in a JSON string: not Unicode "
                "text, and no server could send it on"
            )
            raise WebSocketDecodeError(call, data, problem, invalid) from None
    return parsed


def _check_mode(call: str, mode: object) -> None:
    if mode not in ("text", "bytes"):
        raise ValueError(f"{call}: mode must be 'text' or 'bytes', got {mode!r}")


class WebSocket(HTTPConnection):
    """One WebSocket connection, seen from the application.

    >>> async def app(scope, receive, send):
    ...     websocket = WebSocket(scope, receive, send)
    ...     await websocket.accept()
    ...     await websocket.send_json({"hello": websocket.query_params.get("name")})
    ...     await websocket.close()

    Once the client is gone (its close arrived, or the server reports it gone), every
    ``send_*`` and ``receive_*`` raises :class:`WebSocketDisconnect` with its close code,
    whichever task calls it, and ``iter_*`` ends.  After ``close()``, ``receive_*``
    waits for the client's close and raises it too.  :class:`WebSocketStateError` is
    the application's own misuse only: a send before ``accept()`` or after ``close()``.
    """

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE,
    ) -> None:
        if scope.get("type") != "websocket":
            raise ValueError(
                f"WebSocket needs a 'websocket' scope, got {scope.get('type')!r}: "
                "route HTTP requests to a Request instead"
            )
        super().__init__(scope)
        self._receive = receive
        self._send = send
        #: What the application knows of the client: CONNECTING until websocket.connect.
        self.client_state = WebSocketState.CONNECTING
        #: What the application has sent: CONNECTING until accept(), close() or deny().
        self.application_state = WebSocketState.CONNECTING
        #: ``(code, reason)`` once the client is known gone: its disconnect arrived, or a
        #: send failed because the transport is gone (1006 until the disconnect tells).
        self.gone: tuple[int, str] | None = None
        #: The largest message the client may send, in bytes: a larger one closes the
        #: connection with 1009 before it is parsed, and raises WebSocketDisconnect(1009).
        self.max_message_size = max_message_size
        self._closed_itself = False  # whether the handler called close()
        self._close_sent: tuple[int, str] | None = None  # the close the app sent

    # -- connection data (url, headers, query_params, ... come from HTTPConnection) ---

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols", ()))

    @cached_property
    def spec_version(self) -> tuple[int, ...]:
        """The server's ASGI websocket ``spec_version``, e.g. ``(2, 4)``; 2.0 when absent."""
        raw = str((self.scope.get("asgi") or {}).get("spec_version", "2.0"))
        try:
            return tuple(int(part) for part in raw.split("."))
        except ValueError:
            return (2, 0)

    # -- raw messages -----------------------------------------------------------------

    async def receive(self) -> Message:
        """Receive the next raw ASGI message, checking it against the client state.

        A message over ``max_message_size`` closes the connection with 1009 and raises
        ``WebSocketDisconnect(1009)`` instead.
        """
        message = await self._receive_message("receive()")
        if message["type"] == "websocket.receive":
            await self._check_size(message)
        return message

    async def _receive_message(self, call: str) -> Message:
        state = self.client_state
        if not allowed(_CLIENT, state):
            if state is _DISCONNECTED:
                raise self._disconnected()
            raise WebSocketStateError(call, state, side="client")
        message = await self._receive()
        self._check_received(call, message)
        return message

    def _refusal(self, call: str, state: WebSocketState) -> Exception:
        """What a call the application state does not allow raises: the handler's own
        misuse, unless the connection was closed for it (a room, a size limit)."""
        if state is _DISCONNECTED and self.gone is not None and not self._closed_itself:
            return self._disconnected()
        return WebSocketStateError(call, state)

    def _disconnected(self) -> WebSocketDisconnect:
        """What every call raises once the client is gone, whichever task makes it."""
        code, reason = self.gone or (1006, "")
        return WebSocketDisconnect(code, reason)

    def _check_received(self, call: str, message: Message) -> None:
        """Check a received message against the client state, and move the state on."""
        state = self.client_state
        target = next_state(_CLIENT, state, message)
        if target is None:
            raise WebSocketStateError(f"{call} got {message.get('type')!r}", state, side="client")
        self.client_state = target
        if message["type"] == "websocket.disconnect":
            self.gone = (int(message.get("code", 1005)), str(message.get("reason") or ""))

    async def send(self, message: Message) -> None:
        """Send a raw ASGI message, checking it against the application state.

        Once the client is gone (its disconnect arrived, or the server reports it gone
        with ``OSError``, ASGI spec 2.4), this raises ``WebSocketDisconnect`` with its
        close code: 1006 if it dropped without a close frame.
        """
        await self._send_message(f"send({message.get('type')!r})", message)

    async def _send_message(self, call: str, message: Message) -> None:
        state = self.application_state
        target = next_state(_APPLICATION, state, message)
        if target is None:
            raise self._refusal(call, state)
        if self.gone is not None and state is not WebSocketState.CONNECTING:
            raise self._disconnected()
        await self._send_or_disconnect(message)
        self.application_state = target

    async def _send_or_disconnect(self, message: Message) -> None:
        """Send; a server that reports the peer gone (``OSError``, spec 2.4) means 1006."""
        try:
            await self._send(message)
        except (OSError, RuntimeError) as exc:
            raise self._send_failure(exc) from exc

    def _send_failure(self, error: BaseException) -> BaseException:
        """What a failed send of the server's raises: ``WebSocketDisconnect`` when the
        server says the connection is over, else the error as it is.

        ASGI 2.4 says ``OSError``.  uvicorn raises ``RuntimeError`` instead when it had
        closed the connection itself (1009, 1007, 1002, a keepalive timeout) before the
        app read the disconnect, or when another task's close went first.  The state
        checks let no send after the app's own close reach the server, so either way
        the connection is over for the caller: no misuse of its own.
        """
        if isinstance(error, OSError) or (
            isinstance(error, RuntimeError) and SERVER_ALREADY_CLOSED in str(error)
        ):
            return self._peer_gone()
        return error

    def _peer_gone(self) -> WebSocketDisconnect:
        """The server reports the peer gone: what every call raises from now on.

        The application did not close anything, so its state stays.  Every call, in any
        task, raises ``WebSocketDisconnect`` until the disconnect arrives with the
        client's own code.
        """
        if self.gone is None:
            self.gone = (1006, "")
        return self._disconnected()

    # -- handshake --------------------------------------------------------------------

    async def accept(
        self,
        subprotocol: str | None = None,
        headers: Iterable[tuple[bytes, bytes]] | None = None,
    ) -> None:
        """Accept the connection, receiving ``websocket.connect`` first if need be.

        ``subprotocol`` must be one the client offered; ``headers`` are extra
        response headers as lowercase ``(b"name", b"value")`` pairs.
        """
        if self.application_state is not WebSocketState.CONNECTING:
            raise WebSocketStateError("accept()", self.application_state)
        if subprotocol is not None and subprotocol not in self.subprotocols:
            raise ValueError(
                f"accept(subprotocol={subprotocol!r}): the client offered "
                f"{self.subprotocols!r}; pick one of those, or None"
            )
        message: Message = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers is not None:
            message["headers"] = self._accept_headers(headers)
        if self.client_state is WebSocketState.CONNECTING:
            connect = await self._receive_message("accept()")
            if connect["type"] == "websocket.disconnect":
                raise self._disconnected()
        await self._send_message("accept()", message)

    def _accept_headers(self, headers: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        pairs = list(headers)
        for pair in pairs:
            if not (
                isinstance(pair, tuple)
                and len(pair) == 2
                and isinstance(pair[0], bytes)
                and isinstance(pair[1], bytes)
            ):
                raise TypeError(
                    f"accept(headers=...): each header must be a (bytes, bytes) pair, got "
                    f"{pair!r}: encode them, e.g. (b'x-token', b'abc')"
                )
            name = pair[0]
            if name != name.lower():
                raise ValueError(
                    f"accept(headers=...): header name {name!r} must be lowercase, "
                    f"as ASGI requires: use {name.lower()!r}"
                )
            if name == b"sec-websocket-protocol":
                raise ValueError(
                    "accept(headers=...): do not set sec-websocket-protocol yourself; "
                    "pass accept(subprotocol=...) and the server writes the header"
                )
        if self.spec_version < (2, 1):
            raise ASGISpecVersionError("accept(headers=...)", "2.1", self._spec_text)
        return pairs

    @property
    def _spec_text(self) -> str:
        return ".".join(map(str, self.spec_version))

    async def deny(
        self,
        status_code: int = 403,
        content: str | bytes = b"",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Refuse the connection with an HTTP response instead of accepting.

        >>> async def handler(websocket):
        ...     await websocket.deny(401, "log in first")

        The status and body reach the client when the server supports the
        ``websocket.http.response`` extension; otherwise this is a plain
        ``close()`` before accept, which every server answers with 403.
        """
        if self.application_state is not WebSocketState.CONNECTING:
            raise WebSocketStateError("deny()", self.application_state)
        problem = http_status_problem(status_code)
        if problem is not None or status_code == 101:
            error = ValueError if isinstance(status_code, int) else TypeError
            raise error(
                f"deny({status_code!r}): {problem or 'HTTP status 101 would accept'}; "
                "deny with a status from 100 to 599 other than 101, e.g. 403 or 401"
            )
        if DENIAL_EXTENSION not in (self.scope.get("extensions") or {}):
            await self.close()
            return
        if isinstance(content, str):
            body = content.encode("utf-8")
            media_type = b"text/plain; charset=utf-8"
        else:
            body = bytes(content)
            media_type = b"application/octet-stream"
        response_headers = Headers.from_mapping(headers or {}).raw
        if not any(name == b"content-type" for name, _ in response_headers):
            response_headers.append((b"content-type", media_type))
        response_headers.append((b"content-length", str(len(body)).encode()))
        await self._send_message(
            "deny()",
            {
                "type": "websocket.http.response.start",
                "status": status_code,
                "headers": response_headers,
            },
        )
        await self._send_message("deny()", {"type": "websocket.http.response.body", "body": body})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection; before accept, that denies it (the client sees HTTP 403).

        ``code`` must be one RFC 6455 §7.4 lets an endpoint send; ``reason`` at most
        123 UTF-8 bytes, sent where the server's spec_version is 2.3 or later.  A
        second ``close()`` does nothing.
        """
        if self.application_state is WebSocketState.DISCONNECTED:
            return
        for problem in (close_code_problem(code), close_reason_problem(reason)):
            if problem is not None:
                raise ValueError(f"close({code!r}, {reason!r}): {problem}")
        self._closed_itself = True
        await self._close(code, reason)

    async def _close_on_behalf(self, code: int, reason: str) -> None:
        """Close for the handler (a room evicting it, a message over the limit): from
        then on, every call it makes raises ``WebSocketDisconnect(code, reason)``."""
        if self.application_state is WebSocketState.DISCONNECTED:
            return
        await self._close(code, reason)
        if self.gone is None:
            self.gone = (code, reason)

    async def _handler_returned(self, code: int = WebSocketCloseEvent.NORMAL_CLOSURE) -> None:
        """The handler has ended: close for it (with *code* if it is still connected;
        before accept, that denies), and the connection is over for every other task.

        A send from another task (a connection manager, a room) then raises
        ``WebSocketDisconnect`` with the client's close code, or the one sent: it is
        no misuse of that task's, whoever closed.
        """
        if self.application_state is WebSocketState.CONNECTING:
            await self.close()
        elif self.application_state is _CONNECTED:
            await self._close_on_behalf(code, "")
        self._closed_itself = False
        if self.gone is None:
            self.gone = self._close_sent or (int(code), "")

    async def _close(self, code: int, reason: str) -> None:
        if self.application_state is WebSocketState.RESPONSE:
            raise WebSocketStateError("close()", self.application_state)
        if self.gone is not None:
            # The client is gone: there is nobody to send a close frame to.
            self.application_state = WebSocketState.DISCONNECTED
            return
        message: Message = {"type": "websocket.close", "code": int(code)}
        if reason and self.spec_version >= (2, 3):
            message["reason"] = reason
        self._close_sent = (int(code), reason)
        try:
            await self._send_message("close()", message)
        except WebSocketDisconnect:  # gone as we closed: closed all the same
            self.application_state = WebSocketState.DISCONNECTED

    # -- data -------------------------------------------------------------------------

    async def send_text(self, data: str) -> None:
        """Send a text message."""
        if not isinstance(data, str):
            raise TypeError(
                f"send_text() takes a str, got {type(data).__name__}: "
                "use send_bytes() for binary data"
            )
        check_text("send_text()", data)
        await self._send_data("send_text()", {"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"send_bytes() takes bytes, got {type(data).__name__}: use send_text() for text"
            )
        await self._send_data("send_bytes()", {"type": "websocket.send", "bytes": bytes(data)})

    async def send_json(self, data: Any, mode: JSONMode = "text") -> None:
        """Send *data* as JSON, in a text message or, with ``mode="bytes"``, a binary one."""
        call = f"send_json(mode={mode!r})"
        key, payload = encode_json(call, data, mode)
        await self._send_data(call, {"type": "websocket.send", key: payload})

    async def _send_data(self, call: str, message: Message) -> None:
        if self.application_state is not _CONNECTED:
            raise self._refusal(call, self.application_state)
        if self.gone is not None:
            raise self._disconnected()
        # Connected on both sides, a data message changes no state: send it directly.
        await self._send_or_disconnect(message)

    async def _receive_data(self, call: str, key: str) -> Any:
        """The ``text`` or ``bytes`` (*key*) of the next message."""
        if self.application_state is not _CONNECTED:
            if self.application_state is _DISCONNECTED:
                await self._until_disconnect(call)
            raise WebSocketStateError(call, self.application_state)
        if self.client_state is _CONNECTED:
            message = await self._receive()  # the fast path: no state change on data
            if message.get("type") != "websocket.receive":
                self._check_received(call, message)
        else:
            message = await self._receive_message(call)
        if message["type"] == "websocket.disconnect":
            raise self._disconnected()
        await self._check_size(message)
        data = message.get(key)
        if type(data) is not (str if key == "text" else bytes):
            raise WebSocketMessageTypeError(call, message)
        return data

    async def _check_size(self, message: Message) -> None:
        """Close with 1009 a message over ``max_message_size``, before anything parses it."""
        data = message.get("bytes")
        if data is None:
            data = message.get("text")
            limit = self.max_message_size
            # A character is 1 to 4 UTF-8 bytes: encode only when the length leaves a doubt.
            if data is None or len(data) <= limit // 4:
                return
            if len(data) <= limit and len(data.encode("utf-8")) <= limit:
                return
        elif len(data) <= self.max_message_size:
            return
        size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8"))
        reason = f"message too big ({size} bytes; the limit is {self.max_message_size})"
        await self._close_on_behalf(WebSocketCloseEvent.MESSAGE_TOO_BIG, reason)
        raise self._disconnected()

    async def _until_disconnect(self, call: str) -> None:
        """After a close (the handler's, or a room's): wait for the client's close and
        raise ``WebSocketDisconnect``.  Data the client sent before it saw the close is
        dropped, as RFC 6455 section 1.4 says."""
        while True:
            if self.gone is not None:
                raise self._disconnected()
            message = await self._receive_message(call)
            if message["type"] == "websocket.disconnect":
                raise self._disconnected()

    async def receive_text(self) -> str:
        """Receive a text message; ``WebSocketDisconnect`` when the client leaves."""
        text: str = await self._receive_data("receive_text()", "text")
        return text

    async def receive_bytes(self) -> bytes:
        """Receive a binary message; ``WebSocketDisconnect`` when the client leaves."""
        data: bytes = await self._receive_data("receive_bytes()", "bytes")
        return data

    async def receive_json(self, mode: JSONMode = "text") -> Any:
        """Receive a JSON message sent as text or, with ``mode="bytes"``, as UTF-8 bytes."""
        call = f"receive_json(mode={mode!r})"
        _check_mode(call, mode)
        return decode_json(call, await self._receive_data(call, mode))

    # -- iteration --------------------------------------------------------------------

    async def iter_text(self) -> AsyncIterator[str]:
        """Yield text messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_text()
        except WebSocketDisconnect:
            pass

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Yield binary messages until the client disconnects."""
        try:
            while True:
                yield await self.receive_bytes()
        except WebSocketDisconnect:
            pass

    async def iter_json(self, mode: JSONMode = "text") -> AsyncIterator[Any]:
        """Yield JSON messages until the client disconnects."""
        _check_mode("iter_json()", mode)
        try:
            while True:
                yield await self.receive_json(mode)
        except WebSocketDisconnect:
            pass
