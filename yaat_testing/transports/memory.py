"""The in-memory transport: the app runs as a task in the test's own event loop.

>>> async with MemoryTransport(app) as transport:  # doctest: +SKIP
...     connection = await transport.connect(WebSocketRequest("ws://testserver/ws"), timeout=5)

It plays the server: it builds the scope, carries ASGI messages both ways over two
:class:`~yaat_testing.channel.Channel` objects, checks every message the app sends
against the rules (``yaat_testing.rules``), and, where a rule is not enforced or the
spec leaves the choice open, does what its server profile says.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, NoReturn

from yaat.protocol import DENIAL_EXTENSION, Side, WebSocketState, next_state
from yaat.types import ASGIApp, Message, Receive, Scope, Send
from yaat.websockets import WebSocketDisconnect
from yaat_testing.asgi import as_asgi3
from yaat_testing.channel import Channel
from yaat_testing.exceptions import (
    ASGIProtocolError,
    ClientDisconnected,
    WebSocketDenied,
    WebSocketTimeout,
)
from yaat_testing.lifespan import Lifespan, LifespanMode
from yaat_testing.profiles import UVICORN, Consequence, ServerProfile
from yaat_testing.rules import (
    STATE_RULES,
    Facts,
    Strict,
    Violation,
    check_end,
    check_receive,
    check_return,
    check_send,
    header_pairs,
)
from yaat_testing.runner import AppRunner
from yaat_testing.scope import WebSocketRequest, build_scope
from yaat_testing.transcript import APP_TO_CLIENT, CLIENT_TO_APP, Transcript
from yaat_testing.transports.base import Connection, Failures, Transport

if TYPE_CHECKING:
    import httpx

_CONNECTING = WebSocketState.CONNECTING
_CONNECTED = WebSocketState.CONNECTED
_RESPONSE = WebSocketState.RESPONSE
_DISCONNECTED = WebSocketState.DISCONNECTED
_APPLICATION = Side.APPLICATION

_APP_DONE = object()  # put on the client's channel when the app ends
_HANDSHAKE_GRACE = 1.0  # how long a refusing app may take to finish, so its error is known


def is_plain_data(message: Message) -> bool:
    """A ``websocket.send`` with exactly one of a str ``text`` or bytes ``bytes``."""
    text, data = message.get("text"), message.get("bytes")
    return (type(text) is str and data is None) or (type(data) is bytes and text is None)


def is_plain_accept(message: Message, offered: frozenset[str]) -> bool:
    """A ``websocket.accept`` with no headers and no subprotocol, or one the client offered."""
    if len(message) == 1:  # {"type": "websocket.accept"}
        return True
    subprotocol = message.get("subprotocol")
    return (subprotocol is None or (type(subprotocol) is str and subprotocol in offered)) and (
        not message.get("headers") and type(message.get("headers", ())) in (list, tuple)
    )


class MemoryTransport(Transport):
    """Serves *app* in memory, as *profile* (uvicorn by default) would.

    ``strict`` enforces every ASGI rule (``True``), none (``False``), or all but some
    (``Strict(ignore=[...])``); ``raise_app_exceptions`` re-raises the app's own
    exceptions in the test.  ``lifespan`` is ``"auto"``, ``"on"`` or ``"off"``, and
    runs when the transport is entered.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        strict: bool | Strict = True,
        raise_app_exceptions: bool = True,
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
        denial_response: bool = True,
        lifespan: LifespanMode = "auto",
        timeout: float = 5.0,
        profile: ServerProfile = UVICORN,
    ) -> None:
        self.app = app
        #: *app* as an ASGI 3 callable: ASGI 2 apps are wrapped.
        self.asgi3 = as_asgi3(app)
        self.strict = Strict.of(strict)
        self.raise_app_exceptions = raise_app_exceptions
        self.root_path = root_path
        self.client = client
        self.lifespan = lifespan
        self.timeout = timeout
        self.profile = profile
        self.state = {}
        offers = denial_response and profile.denial_extension
        self.extensions: dict[str, Any] = {DENIAL_EXTENSION: {}} if offers else {}
        self._lifespan: Lifespan | None = None

    async def start(self) -> None:
        """Run the lifespan startup, unless ``lifespan="off"``."""
        if self.lifespan != "off":
            self._lifespan = Lifespan(
                self.asgi3, state=self.state, timeout=self.timeout, mode=self.lifespan
            )
            await self._lifespan.startup()

    async def aclose(self) -> None:
        """Run the lifespan shutdown."""
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.shutdown()

    def build_scope(self, request: WebSocketRequest) -> Scope:
        """The ``websocket`` scope this transport's server gives the app for *request*."""
        return build_scope(
            request,
            spec_version=self.profile.spec_version,
            root_path=self.root_path,
            client=self.client,
            state=self.state,
            extensions=self.extensions,
        )

    async def connect(self, request: WebSocketRequest, timeout: float) -> MemoryConnection:
        connection = MemoryConnection(self, self.build_scope(request))
        await connection.handshake(timeout)
        return connection

    def http_transport(self) -> httpx.AsyncBaseTransport:
        """httpx's ``ASGITransport`` to the app, with the lifespan state added."""
        import httpx

        return httpx.ASGITransport(
            app=self._app_with_state,
            raise_app_exceptions=self.raise_app_exceptions,
            root_path=self.root_path,
            client=self.client,
        )

    async def _app_with_state(self, scope: Scope, receive: Receive, send: Send) -> None:
        # httpx's ASGITransport knows no lifespan state; add it as servers do.
        await self.asgi3({**scope, "state": dict(self.state)}, receive, send)


class MemoryConnection(Connection):
    """One app task and the two channels between it and the session."""

    __slots__ = (
        "_app_saw_disconnect",
        "_client_close",
        "_denial_extension",
        "_loop",
        "_offered",
        "_to_app",
        "_to_client",
        "accept_headers",
        "app_state",
        "client_state",
        "closed",
        "failures",
        "profile",
        "runner",
        "scope",
        "strict",
        "subprotocol",
        "transcript",
        "transport",
    )

    def __init__(self, transport: MemoryTransport, scope: Scope) -> None:
        self.transport = transport
        self.scope = scope
        self.strict = transport.strict
        self.profile = transport.profile
        self.transcript = Transcript()
        self.subprotocol = None
        self.accept_headers = []
        self.failures = Failures()
        #: What the app has sent: the protocol table's application state.
        self.app_state = _CONNECTING
        #: What the client has done: CONNECTED after the handshake, DISCONNECTED once it left.
        self.client_state = _CONNECTING
        #: ``(code, reason)`` once the app closed or the connection dropped.
        self.closed: tuple[int, str] | None = None
        self._client_close: tuple[int, str] = (1000, "")
        self._offered = frozenset(scope["subprotocols"])
        self._denial_extension = DENIAL_EXTENSION in scope["extensions"]
        self._app_saw_disconnect = False
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._to_app = Channel(loop)
        self._to_client = Channel(loop)
        # The app's end is put on the client's channel, whose timer the handshake armed.
        self.runner = AppRunner(
            expected=(ClientDisconnected,), on_end=self._on_app_end, channel=self._to_client
        )

    # -- the app's side: receive() and send() -----------------------------------------

    async def _app_receive(self) -> Message:
        channel = self._to_app
        if self._app_saw_disconnect and not channel.items:
            violation = check_receive(self.app_state, saw_disconnect=True)
            assert violation is not None
            self._enforce(violation)  # allowed: receive() waits, as the server's does
        while not channel.items:
            await channel.wait(None)
        message: Message = channel.items.popleft()
        if message["type"] == "websocket.disconnect":
            self._app_saw_disconnect = True
        return message

    async def _app_send(self, message: Message) -> None:
        # Fast paths for the messages sent most.  tests/test_memory.py proves that each
        # takes only messages the rules pass and the table allows, with the same result.
        if type(message) is dict:
            kind = message.get("type")
            if kind == "websocket.send" and self.app_state is _CONNECTED:
                # is_plain_data(message), inlined: this is the busiest line of the harness
                text, data = message.get("text"), message.get("bytes")
                if (type(text) is str and data is None) or (type(data) is bytes and text is None):
                    if self.client_state is _DISCONNECTED:
                        raise ClientDisconnected("the client has disconnected")
                    self.transcript.record(APP_TO_CLIENT, message)
                    self._to_client.put(message)
                    return
            elif (
                kind == "websocket.accept"
                and self.app_state is _CONNECTING
                and (len(message) == 1 or is_plain_accept(message, self._offered))
            ):
                self.transcript.record(APP_TO_CLIENT, message)
                self.app_state = _CONNECTED
                self.subprotocol = message.get("subprotocol")
                self._to_client.put(message)
                return
        self.transcript.record(APP_TO_CLIENT, message)
        facts = Facts(self.app_state, self._offered, self._denial_extension)
        for violation in check_send(facts, message):
            if self._enforce(violation) is Consequence.ALLOW and violation.rule in STATE_RULES:
                return  # a server that lets an illegal message pass ignores it
        self._apply(message)

    def _enforce(self, violation: Violation) -> Consequence:
        """Raise for an enforced rule; otherwise do what the server does, or return ALLOW."""
        if self.strict.enforces(violation.rule):
            error = violation.error()
            self.failures.add(error)  # reported to the test even if the app swallows it
            self._to_client.wake_all()
            raise error
        consequence = self.profile.consequences[violation.rule]
        if consequence is Consequence.DROP:
            self._drop()
        if consequence is not Consequence.ALLOW:
            raise violation.error()
        return consequence

    def _apply(self, message: Message) -> None:
        """Deliver a message that passed the rules, and move the application state on."""
        state = self.app_state
        target = next_state(_APPLICATION, state, message)
        assert target is not None
        kind = message["type"]
        if kind == "websocket.send":
            self._deliver(message)
            return
        if self.client_state is _DISCONNECTED and state is _CONNECTED:
            # A close after the client's: the closing handshake is under way, and the
            # server ignores it (uvicorn's websockets-sansio does).
            self.app_state = target
            return
        self.app_state = target
        if kind == "websocket.accept":
            pairs = header_pairs(message.get("headers", [])) or []
            self.subprotocol = message.get("subprotocol")
            self.accept_headers = [(name.lower(), value) for name, value in pairs]
        elif kind == "websocket.close" and state is _CONNECTED:
            code, reason = message.get("code", 1000), message.get("reason") or ""
            self.closed = (code, reason)
            self._to_app.put({"type": "websocket.disconnect", "code": code, "reason": reason})
            message = {"type": "websocket.close", "code": code, "reason": reason}
        elif target is _DISCONNECTED:  # a close before accept, or the denial's last body
            self._to_app.put({"type": "websocket.disconnect", "code": 1006})
        self._to_client.put(message)

    def _deliver(self, message: Message) -> None:
        """A ``websocket.send`` as the server sends it: the bytes win, and neither is nothing."""
        if self.client_state is _DISCONNECTED:
            raise ClientDisconnected("the client has disconnected")
        text, data = message.get("text"), message.get("bytes")
        if data is not None:
            if type(data) is not bytes or text is not None:
                message = {"type": "websocket.send", "bytes": bytes(data)}
            self._to_client.put(message)
        elif text is not None:
            self._to_client.put(message)

    def _drop(self) -> None:
        """The connection drops, as a real server's does when it fails mid-connection."""
        self.app_state = _DISCONNECTED
        self.closed = (1006, "")
        self._to_app.put({"type": "websocket.disconnect", "code": 1006})
        self._to_client.put({"type": "websocket.close", "code": 1006, "reason": ""})

    def _on_app_end(self, runner: AppRunner) -> None:
        if runner.error is not None:
            if self.transport.raise_app_exceptions:
                self.failures.add(runner.error)
        elif runner.result is not None:
            violation = check_return(self.app_state, runner.result)
            if violation is not None and self.strict.enforces(violation.rule):
                self.failures.add(violation.error())
        if self.app_state is _CONNECTED and self.closed is None:
            self.closed = (1006, "")  # the app ended without closing: the server drops it
        self._to_client.put(_APP_DONE)

    # -- the client's side ------------------------------------------------------------

    async def handshake(self, timeout: float) -> None:
        """Start the app and wait for its accept, or raise how it refused."""
        connect: Message = {"type": "websocket.connect"}
        self.transcript.record(CLIENT_TO_APP, connect)
        self._to_app.put(connect)
        self.runner.start(self.transport.asgi3, self.scope, self._app_receive, self._app_send)
        try:
            first = await self._next(timeout, "the handshake (websocket.accept)")
        except BaseException:
            await self.abandon()
            raise
        profile = self.profile
        if first is _APP_DONE:
            if self.runner.error is not None:
                await self._denied(
                    profile.raise_before_accept_status, "the app raised before accepting"
                )
            await self._denied(
                profile.return_before_accept_status, "the app ended before accepting"
            )
        kind = first["type"]
        if kind == "websocket.accept":
            if self.subprotocol is not None and self.subprotocol not in self._offered:
                await self.abandon()  # the server sent it, and a real client refuses it
                raise ASGIProtocolError(
                    "subprotocol-not-offered",
                    f"the app accepted with subprotocol {self.subprotocol!r}, which the "
                    "client never offered, so the client failed the handshake",
                    f"application state {self.app_state.name}",
                    "pick one of scope['subprotocols'], or None",
                )
            self.client_state = _CONNECTED
            return
        if kind == "websocket.close":
            await self._denied(
                profile.close_before_accept_status,
                close=(first.get("code", 1000), first.get("reason") or ""),
            )
        status, headers, body = first["status"], list(first.get("headers", [])), []
        while True:
            part = await self._next(timeout, "the rest of the denial response")
            if part is _APP_DONE:
                self._incomplete_denial()
            body.append(bytes(part.get("body", b"")))
            if not part.get("more_body", False):
                break
        await self._denied(status, "", headers, b"".join(body))

    async def _denied(
        self,
        status: int,
        why: str = "",
        headers: list[tuple[bytes, bytes]] | None = None,
        body: bytes = b"",
        close: tuple[int, str] | None = None,
    ) -> NoReturn:
        self.client_state = _DISCONNECTED
        await self.runner.wait(_HANDSHAKE_GRACE)
        self._to_client.close()
        self.failures.raise_pending()
        if status == 500 and not body:
            body = b"Internal Server Error"
        if close is None:
            raise WebSocketDenied(status, headers or [], body, why)
        raise WebSocketDenied(
            status, headers or [], body, close_code=close[0], close_reason=str(close[1])
        )

    def _incomplete_denial(self) -> NoReturn:
        """The app ended mid-denial: uvicorn sends nothing and drops the connection."""
        self.client_state = _DISCONNECTED
        self._to_client.close()
        self.failures.raise_pending()
        violation = check_end(self.app_state)
        assert violation is not None
        if self.strict.enforces(violation.rule):
            self.failures.reported = True
            raise violation.error()
        raise WebSocketDisconnect(1006, "the connection dropped during the handshake")

    async def _next(self, timeout: float, waited_for: str) -> Any:
        """The next item from the app, raising its failure first."""
        failures = self.failures
        if failures.first is not None:
            failures.raise_pending()
        channel = self._to_client
        if not channel.items:
            loop = self._loop
            deadline = loop.time() + timeout
            while not channel.items:
                if loop.time() >= deadline:
                    raise WebSocketTimeout(waited_for, timeout, str(self.transcript))
                await channel.wait(deadline)
                if failures.first is not None:
                    failures.raise_pending()
        return channel.items.popleft()

    async def send(self, message: Message) -> None:
        if self.failures.first is not None:
            self.failures.raise_pending()
        self.transcript.record(CLIENT_TO_APP, message)
        if message["type"] == "websocket.disconnect":
            self.client_state = _DISCONNECTED
            self._client_close = (message.get("code", 1000), message.get("reason") or "")
        self._to_app.put(message)

    async def receive(self, timeout: float) -> Message:
        channel = self._to_client
        if channel.items and self.failures.first is None:  # the fast path: already there
            item = channel.items.popleft()
        else:
            item = await self._next(timeout, "a message from the app")
        if item is _APP_DONE:
            if self.client_state is _DISCONNECTED:  # the client left first
                code, reason = self._client_close
            else:  # the app ended without closing: a real server drops the connection
                self.client_state = _DISCONNECTED
                code, reason = 1006, ""
            return {"type": "websocket.close", "code": code, "reason": reason}
        message: Message = item
        if message["type"] == "websocket.close":
            self.client_state = _DISCONNECTED
        return message

    def receive_nowait(self) -> Message | None:
        """The plain data message at the head of the client's channel, if nothing is due.

        Only the client's side ever takes from that channel, and a deque's popleft is
        atomic: the sync API may call this from its own thread.
        """
        items = self._to_client.items
        if not items or self.failures.first is not None:
            return None
        head = items[0]
        if head is _APP_DONE or head.get("type") != "websocket.send":
            return None
        message: Message = items.popleft()
        return message

    async def aclose(self, timeout: float, code: int = 1000, reason: str = "") -> None:
        if self.client_state is _CONNECTED and self.closed is None:
            await self.send({"type": "websocket.disconnect", "code": code, "reason": reason})
        try:
            await self.finish(timeout)
        finally:
            self._to_client.close()

    async def abandon(self) -> None:
        self.failures.reported = True
        self._to_client.close()
        await self.runner.cancel(_HANDSHAKE_GRACE)
