"""The in-memory ASGI transport: scope, channels and validation.

The transport runs the app as a task in the test's own event loop and carries
messages both ways.  It knows ASGI messages, never ``send_text``: that is the
session's job (``yaat_testing.session``).

>>> transport = ASGIWebSocketTransport(app)  # doctest: +SKIP
>>> connection = await transport.connect(WebSocketRequest("ws://testserver/ws"), timeout=5)  # doctest: +SKIP
"""

from __future__ import annotations

import abc
import asyncio
import functools
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn
from urllib.parse import quote, unquote, urlsplit

from yaat.constants import close_code_problem, close_reason_problem
from yaat.types import ASGIApp, Message, Scope
from yaat.websockets import WebSocketDisconnect, WebSocketState
from yaat_testing.exceptions import ASGIProtocolError, WebSocketDenied, WebSocketTimeout

SPEC_VERSION = "2.4"
DENIAL_EXTENSION = "websocket.http.response"

_CONNECTING = WebSocketState.CONNECTING
_CONNECTED = WebSocketState.CONNECTED
_RESPONSE = WebSocketState.RESPONSE
_DISCONNECTED = WebSocketState.DISCONNECTED

_APP_MESSAGE_TYPES = (
    "websocket.accept",
    "websocket.send",
    "websocket.close",
    "websocket.http.response.start",
    "websocket.http.response.body",
)
# What each application state allows, for error messages.
_ALLOWED = {
    _CONNECTING: "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'",
    _CONNECTED: "'websocket.send' or 'websocket.close'",
    _RESPONSE: "'websocket.http.response.body'",
    _DISCONNECTED: "nothing",
}


class ClientDisconnected(OSError):
    """Raised in the app's ``send()`` once the client is gone (ASGI spec 2.4)."""


class WebSocketRequest(NamedTuple):
    """What a client asks for: a URL, extra headers and the subprotocols it offers.

    A named tuple, not a frozen dataclass: one is built per session, on the hot path.
    """

    url: str
    headers: Sequence[tuple[bytes, bytes]] = ()
    subprotocols: Sequence[str] = ()


@dataclass
class TranscriptEntry:
    """One message on the wire: when, which way, and the ASGI message itself."""

    at: float
    direction: str  # "client→app" or "app→client"
    message: Mapping[str, Any]

    def __str__(self) -> str:
        return f"{self.at * 1000:9.3f}ms  {self.direction}  {describe(self.message)}"


class Transcript:
    """Every message of one session, both ways, with times relative to its start.

    Recording is on the hot path of every message, so it stores plain tuples;
    :attr:`entries` turns them into :class:`TranscriptEntry` objects when read.
    """

    __slots__ = ("_raw", "started")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self._raw: list[tuple[float, str, Mapping[str, Any]]] = []

    def record(self, direction: str, message: Mapping[str, Any]) -> None:
        self._raw.append((time.perf_counter(), direction, message))

    @property
    def entries(self) -> list[TranscriptEntry]:
        """The messages so far: ``at`` (seconds since the start), ``direction``, ``message``."""
        started = self.started
        return [
            TranscriptEntry(at - started, direction, message)
            for at, direction, message in self._raw
        ]

    def __str__(self) -> str:
        entries = self.entries
        lines = [str(e) for e in entries[-200:]]
        if len(entries) > 200:
            lines.insert(0, f"... {len(entries) - 200} earlier messages")
        return "transcript:\n" + "\n".join("  " + line for line in lines or ["(no messages)"])


@functools.lru_cache(maxsize=1024)
def _url_parts(url: str) -> tuple[str, tuple[str, int], str, bytes, bytes, bytes]:
    """``scheme, server, path, raw_path, query_string, host`` of a WebSocket URL.

    Cached: tests connect to the same few URLs thousands of times.
    """
    parts = urlsplit(url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise ValueError(f"a WebSocket URL needs the ws or wss scheme, got {url!r}")
    raw_path = request_target(parts.path)
    port = parts.port or (443 if scheme == "wss" else 80)
    query = parts.query
    query_string = (
        query.encode("ascii") if query.isascii() else quote(query, safe="=&;+%").encode("ascii")
    )
    netloc = parts.netloc
    host = netloc.encode() if netloc.isascii() else netloc.encode("idna")
    server = (parts.hostname or "testserver", port)
    return scheme, server, unquote(raw_path), raw_path.encode("ascii"), query_string, host


def request_target(path: str) -> str:
    """Percent-encode what a client would before sending *path*: ``"/a b"`` → ``"/a%20b"``."""
    return quote(path or "/", safe="/%!$&'()*+,;=:@~")


def describe(message: Mapping[str, Any]) -> str:
    """A one-line summary of an ASGI message for transcripts and errors."""
    if not isinstance(message, Mapping):
        return repr(message)[:120]
    parts = [str(message.get("type"))]
    for key, value in message.items():
        if key == "type":
            continue
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        parts.append(f"{key}={shown}")
    return " ".join(parts)


class WebSocketConnection(abc.ABC):
    """One open connection, as the session sees it."""

    transcript: Transcript
    subprotocol: str | None
    accept_headers: list[tuple[bytes, bytes]]
    #: ``(code, reason)`` once the app closed or the connection dropped.
    closed: tuple[int, str] | None

    @abc.abstractmethod
    async def send(self, message: Message) -> None:
        """Deliver a ``websocket.receive`` or ``websocket.disconnect`` message to the app."""

    @abc.abstractmethod
    async def receive(self, timeout: float) -> Message:
        """The app's next ``websocket.send``, or the final ``websocket.close`` (1006 if dropped)."""

    @abc.abstractmethod
    async def aclose(self, timeout: float, code: int = 1000, reason: str = "") -> None:
        """Disconnect if still connected, wait for the app to finish, report its failures."""

    @abc.abstractmethod
    async def abandon(self) -> None:
        """Stop the app at once, reporting nothing (the test is already failing)."""

    @abc.abstractmethod
    async def _wait_app(self, timeout: float) -> bool:
        """Wait for the app to end; cancel it after *timeout*. True if it ended by itself."""

    @abc.abstractmethod
    def _raise_failure(self) -> None:
        """Raise the app's failure once, if there is one to report."""

    async def _finish(self, timeout: float) -> None:
        """Wait (bounded) for the app to end after a disconnect, and report its failures."""
        if not await self._wait_app(timeout):
            self._raise_failure()
            raise WebSocketTimeout(
                "the app to finish after the client disconnected (it was cancelled)",
                timeout,
                str(self.transcript),
            )
        self._raise_failure()


class WebSocketTransport(abc.ABC):
    """Opens connections to an app."""

    @abc.abstractmethod
    async def connect(self, request: WebSocketRequest, timeout: float) -> WebSocketConnection:
        """Perform the handshake; raise ``WebSocketDenied`` if the app refuses."""


class ASGIWebSocketTransport(WebSocketTransport):
    """Drives an ASGI app in memory, in the running event loop.

    ``strict`` turns every ASGI spec violation into ``ASGIProtocolError``;
    ``raise_app_exceptions`` re-raises the app's own exceptions in the test.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        strict: bool = True,
        raise_app_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
        state: dict[str, Any] | None = None,
        denial_response: bool = True,
    ) -> None:
        self.app = app
        self.strict = strict
        self.raise_app_exceptions = raise_app_exceptions
        self.root_path = root_path
        self.client = client
        self.state = state
        self.extensions: dict[str, Any] = {DENIAL_EXTENSION: {}} if denial_response else {}

    def build_scope(self, request: WebSocketRequest) -> Scope:
        """The ``websocket`` scope a server would give the app for *request*."""
        scheme, server, path, raw_path, query_string, host = _url_parts(request.url)
        headers: list[tuple[bytes, bytes]] = [
            (b"host", host),
            (b"upgrade", b"websocket"),
            (b"connection", b"Upgrade"),
            (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
            (b"sec-websocket-version", b"13"),
        ]
        if request.subprotocols:
            headers.append((b"sec-websocket-protocol", ", ".join(request.subprotocols).encode()))
        # Servers drop the whitespace around a field value (RFC 9110 §5.5), so do we.
        headers.extend((name, value.strip(b" \t")) for name, value in request.headers)
        root_path = self.root_path
        scope: Scope = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": SPEC_VERSION},
            "http_version": "1.1",
            "scheme": scheme,
            "server": server,
            "client": self.client,
            "root_path": root_path,
            "path": root_path + path if root_path else path,
            "raw_path": (quote(root_path).encode("ascii") + raw_path) if root_path else raw_path,
            "query_string": query_string,
            "headers": headers,
            "subprotocols": list(request.subprotocols),
            "extensions": dict(self.extensions),
        }
        if self.state is not None:
            # A shallow copy per connection, as the lifespan spec asks.
            scope["state"] = dict(self.state)
        return scope

    async def connect(self, request: WebSocketRequest, timeout: float) -> WebSocketConnection:
        connection = ASGIWebSocketConnection(self, self.build_scope(request))
        await connection.handshake(timeout)
        return connection


class _Channel:
    """A one-way message channel: a deque and at most one waiting future.

    No ``asyncio.Queue`` and no ``wait_for``: a put appends and wakes the waiter, and a
    get takes from the deque without suspending when a message is there already.
    Timeouts cost one timer per *timeout period*, not one per wait: the timer is armed
    for the first deadline and, when it fires early for a later wait, re-armed.
    """

    __slots__ = ("deadline", "items", "loop", "timer", "waiter")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.items: deque[Any] = deque()
        self.loop = loop
        self.waiter: asyncio.Future[None] | None = None
        self.deadline: float | None = None
        self.timer: asyncio.TimerHandle | None = None

    def put(self, item: Any) -> None:
        self.items.append(item)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def wait(self, deadline: float | None) -> None:
        """Suspend until a put or a wake, or until the loop's clock reaches *deadline*."""
        waiter = self.waiter = self.loop.create_future()
        if deadline is not None:
            self.deadline = deadline
            timer = self.timer
            if timer is None or timer.when() > deadline:
                if timer is not None:
                    timer.cancel()
                self.timer = self.loop.call_at(deadline, self._on_timer)
        try:
            await waiter
        finally:
            self.waiter = None
            self.deadline = None

    def _on_timer(self) -> None:
        self.timer = None
        deadline = self.deadline
        if deadline is None:
            return  # nobody waits; the next wait arms a timer of its own
        if self.loop.time() >= deadline:
            self.wake()
        else:  # an earlier wait armed it; this one ends later
            self.timer = self.loop.call_at(deadline, self._on_timer)

    def close(self) -> None:
        """Drop the timer, so that nothing of this channel outlives its connection."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


_APP_DONE = object()  # put on the client channel when the app task ends


class ASGIWebSocketConnection(WebSocketConnection):
    """One app task and the two channels between it and the session."""

    def __init__(self, transport: ASGIWebSocketTransport, scope: Scope) -> None:
        self.transport = transport
        self.scope = scope
        self.strict = transport.strict
        self.transcript = Transcript()
        self.subprotocol = None
        self.accept_headers = []
        self.closed = None
        self.app_state = _CONNECTING
        self.client_state = _CONNECTING
        self._offered = set(scope["subprotocols"])
        self._denial_allowed = DENIAL_EXTENSION in scope["extensions"]
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._to_app = _Channel(loop)
        self._to_client = _Channel(loop)
        self._app_done = False
        self._app_saw_disconnect = False
        self._failure: BaseException | None = None
        self._failure_reported = False
        self._app_error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None

    # -- the app's side ---------------------------------------------------------------

    async def _run_app(self) -> None:
        try:
            app: Any = self.transport.app  # an app that breaks the spec may return a value
            result = await app(self.scope, self._app_receive, self._app_send)
            if result is not None and self.strict:
                self._violation(
                    "app-return-value",
                    f"the app returned {result!r}; an ASGI app returns None",
                    "return nothing from the application callable",
                )
        except asyncio.CancelledError:
            pass  # only this connection cancels the app task, when cleaning up
        except ClientDisconnected:
            pass  # our own "the client is gone" from send(): uvicorn ignores it too
        except BaseException as exc:  # the test decides what to do with it
            self._app_error = exc
            if self.transport.raise_app_exceptions and self._failure is None:
                self._failure = exc
        finally:
            if self.app_state is _CONNECTED and self.closed is None:
                self.closed = (1006, "")
            self._app_done = True
            self._to_client.put(_APP_DONE)

    async def _app_receive(self) -> Message:
        channel = self._to_app
        if self._app_saw_disconnect and not channel.items and self.strict:
            raise self._violation(
                "receive-after-disconnect",
                "the app called receive() after it had received websocket.disconnect",
                "stop receiving once websocket.disconnect has arrived",
            )
        while not channel.items:
            await channel.wait(None)
        message: Message = channel.items.popleft()
        if message["type"] == "websocket.disconnect":
            self._app_saw_disconnect = True
        return message

    async def _app_send(self, message: Message) -> None:
        if self.client_state is _DISCONNECTED and self.app_state is _CONNECTED:
            raise ClientDisconnected("the client has disconnected")
        self.transcript.record("app→client", message)
        # The fast path, for the messages sent most: a valid data frame while connected.
        if (
            self.app_state is _CONNECTED
            and type(message) is dict
            and message.get("type") == "websocket.send"
        ):
            text, data = message.get("text"), message.get("bytes")
            if (type(text) is str and data is None) or (type(data) is bytes and text is None):
                self._to_client.put(message)
                return
        self._check_and_apply(message)

    def _violation(self, rule: str, problem: str, fix: str) -> ASGIProtocolError:
        """Build the error for a broken rule; in strict mode, report it to the test too."""
        error = ASGIProtocolError(rule, problem, self.app_state.name, fix)
        if self.strict:
            if self._failure is None:
                self._failure = error
            self._to_client.wake()
        return error

    def _check_and_apply(self, message: Message) -> None:
        """Validate one app message against the spec and the state; deliver it."""
        if type(message) is not dict and not isinstance(message, Mapping):
            raise self._violation(
                "message-not-a-dict",
                f"send() got {type(message).__name__}",
                "send a dict such as {'type': 'websocket.send', 'text': '...'}",
            )
        kind = message.get("type")
        state = self.app_state
        if kind not in _APP_MESSAGE_TYPES:
            raise self._violation(
                "unknown-message-type",
                f"send() got message type {kind!r}",
                f"send one of {_ALLOWED[state]}",
            )
        if state is _CONNECTING:
            if kind == "websocket.accept":
                self._on_accept(message)
            elif kind == "websocket.close":
                self._close_checks(message, before_accept=True)
                self.app_state = _DISCONNECTED
                self._to_app.put({"type": "websocket.disconnect", "code": 1006})
                self._to_client.put(message)
            elif kind == "websocket.http.response.start":
                self._on_response_start(message)
            else:
                what = "websocket.send" if kind == "websocket.send" else kind
                raise self._violation(
                    "send-before-accept" if kind == "websocket.send" else "body-before-start",
                    f"{what} before the handshake completed",
                    f"send {_ALLOWED[state]} first (await websocket.accept())",
                )
        elif state is _CONNECTED:
            if kind == "websocket.send":
                self._on_send(message)
            elif kind == "websocket.close":
                self._close_checks(message, before_accept=False)
                self.app_state = _DISCONNECTED
                code = message.get("code", 1000)
                reason = message.get("reason") or ""
                if self.client_state is not _DISCONNECTED:
                    self._to_app.put(
                        {"type": "websocket.disconnect", "code": code, "reason": reason}
                    )
                self._to_client.put({"type": "websocket.close", "code": code, "reason": reason})
            elif kind == "websocket.accept":
                raise self._violation(
                    "double-accept",
                    "websocket.accept sent twice",
                    "accept once; the connection is already open",
                )
            else:
                raise self._violation(
                    "denial-after-accept",
                    f"{kind} after websocket.accept",
                    "deny with an HTTP response before accepting, or close() now",
                )
        elif state is _RESPONSE:
            if kind != "websocket.http.response.body":
                raise self._violation(
                    "denial-incomplete",
                    f"{kind} in the middle of a denial response",
                    "finish the response with websocket.http.response.body (more_body=False)",
                )
            self._on_response_body(message)
        else:
            raise self._violation(
                "message-after-close",
                f"{kind} after the connection was closed",
                "send nothing after websocket.close or a complete denial response",
            )

    def _on_accept(self, message: Message) -> None:
        subprotocol = message.get("subprotocol")
        headers = message.get("headers", [])
        if subprotocol is not None and not isinstance(subprotocol, str):
            raise self._violation(
                "accept-subprotocol-type",
                f"websocket.accept subprotocol is {type(subprotocol).__name__}",
                "pass a str the client offered, or None",
            )
        if subprotocol is not None and subprotocol not in self._offered and self.strict:
            raise self._violation(
                "subprotocol-not-offered",
                f"websocket.accept chose subprotocol {subprotocol!r}; the client offered "
                f"{sorted(self._offered)!r}",
                "pick one of scope['subprotocols'], or None",
            )
        # Most accepts carry no headers: skip the checks that only headers need.
        pairs = self._header_pairs("websocket.accept", headers) if headers else []
        for name, _ in pairs:
            if name.lower() == b"sec-websocket-protocol":
                raise self._violation(
                    "accept-subprotocol-header",
                    "websocket.accept headers include sec-websocket-protocol",
                    "use the 'subprotocol' key instead",
                )
            if self.strict and name != name.lower():
                raise self._violation(
                    "header-name-case",
                    f"websocket.accept header name {name!r} is not lowercase",
                    f"use {name.lower()!r}",
                )
        self.app_state = _CONNECTED
        self.subprotocol = subprotocol
        self.accept_headers = [(n.lower(), v) for n, v in pairs] if pairs else []
        self._to_client.put(message)

    def _header_pairs(self, kind: str, headers: Any) -> list[tuple[bytes, bytes]]:
        try:
            pairs = [(name, value) for name, value in headers]
        except (TypeError, ValueError):
            pairs = None
        if pairs is None or not all(
            isinstance(n, bytes) and isinstance(v, bytes) for n, v in pairs
        ):
            raise self._violation(
                "header-type",
                f"{kind} headers must be an iterable of [name, value] byte pairs, got {headers!r:.80}",
                "encode them, e.g. [(b'x-token', b'abc')]",
            )
        assert pairs is not None
        return pairs

    def _on_send(self, message: Message) -> None:
        text = message.get("text")
        data = message.get("bytes")
        if text is not None and data is not None:
            if self.strict:
                raise self._violation(
                    "text-and-bytes",
                    "websocket.send has both 'text' and 'bytes'",
                    "send one of them and leave the other out (or None)",
                )
            text = None  # uvicorn sends the bytes
        if text is None and data is None:
            if self.strict:
                raise self._violation(
                    "neither-text-nor-bytes",
                    "websocket.send has neither 'text' nor 'bytes'",
                    "set 'text' to a str or 'bytes' to bytes",
                )
            return  # uvicorn sends nothing
        if text is not None:
            if not isinstance(text, str):
                self._drop(
                    "send-text-type",
                    f"websocket.send 'text' is {type(text).__name__}",
                    "send a str as 'text', or bytes as 'bytes'",
                )
            self._to_client.put(message)  # delivered as is: no copy on the hot path
            return
        if not isinstance(data, (bytes, bytearray)):
            self._drop(
                "send-bytes-type",
                f"websocket.send 'bytes' is {type(data).__name__}",
                "send bytes as 'bytes', or a str as 'text'",
            )
        if type(data) is bytes and message.get("text") is None:
            self._to_client.put(message)
        else:
            self._to_client.put({"type": "websocket.send", "bytes": bytes(data)})

    def _close_checks(self, message: Message, before_accept: bool) -> None:
        code = message.get("code", 1000)
        reason = message.get("reason") or ""
        for rule, problem in (
            ("close-code", close_code_problem(code)),
            ("close-reason", close_reason_problem(reason)),
        ):
            if problem is not None and not before_accept:
                self._drop(
                    rule, f"websocket.close: {problem}", "send a valid code and a short reason"
                )
            elif problem is not None and self.strict:
                raise self._violation(
                    rule, f"websocket.close: {problem}", "send a valid code and a short reason"
                )

    def _drop(self, rule: str, problem: str, fix: str) -> NoReturn:
        """A mistake a real server fails on mid-connection: the connection drops (1006)."""
        if not self.strict:
            self.app_state = _DISCONNECTED
            self.closed = (1006, "")
            self._to_client.put({"type": "websocket.close", "code": 1006, "reason": ""})
        raise self._violation(rule, problem, fix)

    def _on_response_start(self, message: Message) -> None:
        if not self._denial_allowed and self.strict:
            raise self._violation(
                "denial-without-extension",
                "websocket.http.response.start, but the scope does not advertise "
                f"the {DENIAL_EXTENSION!r} extension",
                "check scope['extensions'] first, or close() to deny with 403",
            )
        status = message.get("status")
        if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
            raise self._violation(
                "response-status",
                f"websocket.http.response.start status is {status!r}",
                "send an int HTTP status from 100 to 599",
            )
        self._header_pairs("websocket.http.response.start", message.get("headers", []))
        self.app_state = _RESPONSE
        self._to_client.put(message)

    def _on_response_body(self, message: Message) -> None:
        body = message.get("body", b"")
        if not isinstance(body, (bytes, bytearray)):
            raise self._violation(
                "response-body-type",
                f"websocket.http.response.body body is {type(body).__name__}",
                "send bytes",
            )
        if not message.get("more_body", False):
            self.app_state = _DISCONNECTED
            self._to_app.put({"type": "websocket.disconnect", "code": 1006})
        self._to_client.put(message)

    # -- the client's side ------------------------------------------------------------

    async def handshake(self, timeout: float) -> None:
        """Start the app and wait for its accept, or raise how it refused."""
        self.client_state = _CONNECTING
        connect: Message = {"type": "websocket.connect"}
        self.transcript.record("client→app", connect)
        self._to_app.put(connect)
        self._task = self._loop.create_task(self._run_app())
        try:
            first = await self._next(timeout, "the handshake (websocket.accept)")
        except BaseException:
            await self.abandon()
            raise
        if first is _APP_DONE:
            await self._finish_denied(500, "the app ended before accepting")
        kind = first["type"]
        if kind == "websocket.accept":
            if self.subprotocol is not None and self.subprotocol not in self._offered:
                # Non-strict: the server sends it, and a real client refuses it.
                await self.abandon()
                raise ASGIProtocolError(
                    "subprotocol-not-offered",
                    f"the app accepted with subprotocol {self.subprotocol!r}, which the client "
                    "never offered, so the client failed the handshake",
                    "ACCEPTED",
                    "pick one of scope['subprotocols'], or None",
                )
            self.client_state = _CONNECTED
            return
        if kind == "websocket.close":
            await self._finish_denied(403, "the app closed before accepting")
        # A denial response: collect the body.
        status, headers, body = first["status"], list(first.get("headers", [])), []
        while True:
            part = await self._next(timeout, "the rest of the denial response")
            if part is _APP_DONE:
                await self._incomplete_denial()
            body.append(bytes(part.get("body", b"")))
            if not part.get("more_body", False):
                break
        await self._finish_denied(status, "", headers, b"".join(body))

    async def _finish_denied(
        self,
        status: int,
        why: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
    ) -> None:
        self.client_state = _DISCONNECTED
        await self._wait_app(self._handshake_grace)
        self._raise_failure()
        if status == 500 and not body:
            body = b"Internal Server Error"
        raise WebSocketDenied(status, headers or [], body, why)

    async def _incomplete_denial(self) -> NoReturn:
        """The app ended mid-denial: uvicorn sends nothing and drops the connection."""
        self.client_state = _DISCONNECTED
        self._raise_failure()
        if self.strict:
            raise self._violation(
                "denial-incomplete",
                "the app ended in the middle of its denial response",
                "finish the response with websocket.http.response.body (more_body=False)",
            )
        raise WebSocketDisconnect(1006, "the connection dropped during the handshake")

    _handshake_grace = 1.0

    async def _next(self, timeout: float, waited_for: str) -> Any:
        """The next item from the app, raising its failure first."""
        if self._failure is not None:
            self._raise_failure()
        channel = self._to_client
        if not channel.items:
            deadline = self._loop.time() + timeout
            while not channel.items:
                if self._loop.time() >= deadline:
                    raise WebSocketTimeout(waited_for, timeout, str(self.transcript))
                await channel.wait(deadline)
                if self._failure is not None:
                    self._raise_failure()
        return channel.items.popleft()

    def _raise_failure(self) -> None:
        failure = self._failure
        if failure is not None and not self._failure_reported:
            self._failure_reported = True
            raise failure

    async def send(self, message: Message) -> None:
        self._raise_failure()
        self.transcript.record("client→app", message)
        if message["type"] == "websocket.disconnect":
            self.client_state = _DISCONNECTED
        self._to_app.put(message)

    async def receive(self, timeout: float) -> Message:
        channel = self._to_client
        if channel.items and self._failure is None:  # the fast path: already there
            item = channel.items.popleft()
        else:
            item = await self._next(timeout, "a message from the app")
        if item is _APP_DONE:
            # The app ended without closing: a real server drops the TCP connection.
            self.client_state = _DISCONNECTED
            return {"type": "websocket.close", "code": 1006, "reason": ""}
        message: Message = item
        if message["type"] == "websocket.close":
            self.client_state = _DISCONNECTED
        return message

    async def aclose(self, timeout: float, code: int = 1000, reason: str = "") -> None:
        if self.client_state is _CONNECTED and self.closed is None:
            await self.send({"type": "websocket.disconnect", "code": code, "reason": reason})
        await self._finish(timeout)

    async def _wait_app(self, timeout: float) -> bool:
        """Wait for the app task to end; cancel it after *timeout*. True if it ended by itself."""
        task = self._task
        if task is not None and not task.done():
            # The app's end puts _APP_DONE on the client channel, which wakes this wait.
            deadline = self._loop.time() + timeout
            while not self._app_done and self._loop.time() < deadline:
                await self._to_client.wait(deadline)
            if not self._app_done:
                task.cancel()
                await asyncio.wait({task}, timeout=timeout)
                self._to_client.close()
                return False
            await task  # it has finished: this only collects it
        self._to_client.close()
        return True

    async def abandon(self) -> None:
        self._failure_reported = True
        self._to_client.close()
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.wait({self._task}, timeout=self._handshake_grace)

    @property
    def app_error(self) -> BaseException | None:
        """The exception the app raised, if any (whether or not it was re-raised)."""
        return self._app_error
