"""The in-memory transport: the app runs as a task in the test's own event loop.

>>> async with MemoryTransport(app) as transport:  # doctest: +SKIP
...     connection = await transport.connect(WebSocketRequest("ws://testserver/ws"), timeout=5)

It plays the server: it builds the scope, carries ASGI messages both ways over two
:class:`~yaat_testing.channel.Channel` objects, checks every message the app sends
against the rules (``yaat_testing.rules``), and, where a rule is not enforced or the
spec leaves the choice open, does what its server profile says.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, NoReturn

from yaat.protocol import DENIAL_EXTENSION, Side, WebSocketState, next_state
from yaat.types import ASGIApp, Message, Receive, Scope, Send
from yaat.websockets import WebSocketDisconnect
from yaat_testing.asgi import as_asgi3
from yaat_testing.channel import Alarm, Channel
from yaat_testing.exceptions import (
    ASGIProtocolError,
    ClientDisconnected,
    ServerRefused,
    WebSocketDenied,
    WebSocketTimeout,
)
from yaat_testing.lifespan import Lifespan, LifespanMode
from yaat_testing.loops import (
    Future,
    Loop,
    call_at_next_poll,
    current_task,
    one_turn,
    running_loop,
)
from yaat_testing.profiles import (
    UVICORN,
    CloseFix,
    Consequence,
    ServerProfile,
    client_reads_close,
)
from yaat_testing.rules import (
    Facts,
    Strict,
    Violation,
    check_end,
    check_receive,
    check_return,
    check_send,
    header_pairs,
    unencodable_at,
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

_GONE = (ClientDisconnected,)  # what ends an app normally: the client is gone
_NONE_OFFERED: frozenset[str] = frozenset()
_APP_DONE = object()  # put on the client's channel when the app ends
_DROPPED = object()  # put there when the connection drops before the handshake ends
_HANDSHAKE_GRACE = 1.0  # how long a refusing app may take to finish, so its error is known
#: The loop turns a drop takes beyond a frame's: the client's abort closes its socket on
#: the next turn (asyncio's transport), and the server learns of it from a failed read
#: through connection_lost, a turn later (measured: 5 cells of the corpus on uvicorn).
_DROP_TURNS = 2
#: The loop turns from an accept the client refuses until the server sees it drop.
_FAILED_HANDSHAKE_TURNS = 4


def is_plain_data(message: Message) -> bool:
    """A ``websocket.send`` with exactly one of a str ``text`` UTF-8 can encode or bytes
    ``bytes``."""
    text, data = message.get("text"), message.get("bytes")
    return (type(text) is str and data is None and unencodable_at(text) is None) or (
        type(data) is bytes and text is None
    )


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
    runs when the transport is entered, if the profile's server runs it at all.
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
        self.extensions: dict[str, Any] = {
            name: {} for name in profile.extensions if denial_response or name != DENIAL_EXTENSION
        }
        self._lifespan: Lifespan | None = None
        self._open: weakref.WeakSet[MemoryConnection] = weakref.WeakSet()
        self._alarm: Alarm | None = None

    async def start(self) -> None:
        """Run the lifespan startup, unless ``lifespan="off"`` or the server has none."""
        if self.lifespan != "off" and self.profile.lifespan:
            self._lifespan = Lifespan(
                self.asgi3, state=self.state, timeout=self.timeout, mode=self.lifespan
            )
            await self._lifespan.startup()

    async def aclose(self) -> None:
        """Stop the apps of sessions still open, as a stopping server does; then run the
        lifespan shutdown."""
        for connection in list(self._open):
            task = connection.runner.task
            if task is not None and not task.done():
                await connection.abandon()
        lifespan, self._lifespan = self._lifespan, None
        if lifespan is not None:
            await lifespan.shutdown()
        alarm, self._alarm = self._alarm, None
        if alarm is not None:
            alarm.close()

    def alarm(self, loop: Loop) -> Alarm:
        """The one timer of every session's deadlines: a timer per session would cost
        more than the rest of a short session."""
        alarm = self._alarm
        if alarm is None or alarm.loop is not loop:
            alarm = self._alarm = Alarm(loop)
        return alarm

    async def shutdown(self, grace: float | None = None) -> None:
        """Shut the server down as its SIGTERM does, with sessions open; then lifespan.

        Each open connection gets what the profile says (uvicorn: close 1012 to the
        client, ``websocket.disconnect`` 1012 to the app); apps get *grace* seconds
        (the timeout by default) to end, and are cancelled after it.
        """
        grace = self.timeout if grace is None else grace
        connections = [c for c in self._open if c.runner.task is not None]
        for connection in connections:
            connection.server_shutdown()
        loop = running_loop()
        deadline = loop.time() + grace
        for connection in connections:
            await connection.runner.wait(max(0.0, deadline - loop.time()))
        for connection in connections:
            connection.server_gone()
        await self.aclose()

    def build_scope(self, request: WebSocketRequest) -> Scope:
        """The ``websocket`` scope this transport's server gives the app for *request*."""
        profile = self.profile
        return build_scope(
            request,
            spec_version=profile.spec_version,
            root_path=self.root_path,
            client=self.client,
            state=self.state if profile.lifespan else None,
            extensions=self.extensions,
            ports_as_str=profile.ports_as_str,
            http_fields=profile.http_fields,
        )

    def connect(
        self, request: WebSocketRequest, timeout: float
    ) -> Coroutine[Any, Any, MemoryConnection]:
        """Perform the handshake for *request*: :meth:`open` with its scope."""
        return self.open(self.build_scope(request), timeout)  # no coroutine of its own

    def open(self, scope: Scope, timeout: float) -> Coroutine[Any, Any, MemoryConnection]:
        """Perform the handshake for *scope* (from :meth:`build_scope`): the app gets this
        very dict, and what it writes there stays readable (Starlette's ``ws.scope``).
        Called in the loop; what it returns is awaited."""
        connection = MemoryConnection(self, scope)
        self._open.add(connection)
        return connection.handshake(timeout)  # no coroutine of its own

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
        "__weakref__",
        "_answer_due",
        "_app_limit",
        "_app_saw_disconnect",
        "_buffered",
        "_client_close",
        "_client_sent_close",
        "_close_read",
        "_close_unanswered",
        "_close_waits",
        "_denial_extension",
        "_denial_held",
        "_ending",
        "_handshake_lost",
        "_loop",
        "_lose_when_taken",
        "_lost",
        "_offered",
        "_paused",
        "_read_limit",
        "_reader",
        "_reads_elsewhere",
        "_receive_ended",
        "_receiving",
        "_refused",
        "_to_app",
        "_to_client",
        "_unsent_close",
        "_wire",
        "_wire_turn",
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
        #: The largest message the app may send (``ServerProfile.app_max_message_size``).
        self._app_limit = transport.profile.app_max_message_size
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
        #: Whether the client has sent its close (the server reads it turns later), and
        #: whether the server has read it.
        self._client_sent_close = self._close_read = False
        #: Whether the client's close waits for the server's answer
        #: (``ServerProfile.answers_close_when_read``).
        self._close_unanswered = False
        offered = scope["subprotocols"]
        self._offered = frozenset(offered) if offered else _NONE_OFFERED
        self._denial_extension = DENIAL_EXTENSION in scope["extensions"]
        self._app_saw_disconnect = False
        #: Whether the app has had a disconnect or closed (``receive_after_disconnect``).
        self._receive_ended = False
        #: Whether the connection is gone: the loop turn after the client's close, at once
        #: after a drop (``ServerProfile.after_lost``).
        self._lost = False
        self._lose_when_taken = False  # the loss follows the app's taking the disconnect
        #: Why the server ends this connection itself: "shutdown", or "never" once it
        #: will never close it (a message over a limit on some servers).
        self._ending = ""
        #: A denial's start this server sends with its (first) body part.
        self._denial_held: Any = None
        #: While the client does not read: the buffer after which the app's send() waits
        #: (None while it reads), the payload bytes waiting, and the send's wake-up.
        self._read_limit: int | None = None
        self._buffered = 0
        self._reader: Future[None] | None = None
        self._paused = False
        #: The client's answer to the app's close, while it does not read to answer it.
        self._answer_due: Message | None = None
        self._receiving: object = None
        self._close_waits: Future[None] | None = None
        #: A close the server counted as sent though nothing went out (a refusal).
        self._unsent_close: CloseFix | None = None
        #: Whether the server refused or lost the accept (of a subprotocol the client
        #: did not offer), so that the handshake never completes.
        self._handshake_lost = False
        #: Whether the app refused the handshake: a close before accept, or a denial.
        self._refused = False
        #: The client's frames on their way to the server, each with the turn it arrives
        #: on (``ServerProfile.client_frame_turns``), and the turns counted so far.
        self._wire: deque[tuple[int, Callable[..., None], tuple[Any, ...]]] | None = None
        self._wire_turn = 0
        self._reads_elsewhere = transport.profile.reads_in_another_thread
        loop = running_loop()
        self._loop = loop
        alarm = transport.alarm(loop)
        self._to_app = Channel(loop, alarm)
        self._to_client = Channel(loop, alarm)
        # The app's end is put on the client's channel, whose timer the handshake armed.
        self.runner = AppRunner(
            expected=_GONE, on_end=self._on_app_end, channel=self._to_client, loop=loop
        )

    # -- the app's side: receive() and send() -----------------------------------------

    async def _app_receive(self) -> Message:
        channel = self._to_app
        if self._app_saw_disconnect:
            violation = check_receive(self.app_state, saw_disconnect=True)
            assert violation is not None
            self._enforce(violation)
            # then the next disconnect the server queued, or a wait, as on the server
        if self._receive_ended:
            after = self.profile.receive_after_disconnect
            if after != "wait":  # granian: its socket is closed, whatever was queued
                return {"type": "websocket.disconnect", "code": after}
        if not channel.items:
            if self.profile.close_while_receive_waits == "returns":
                while not channel.items:
                    await channel.wait(None)
            elif not await self._receive_watched(channel):
                return {
                    "type": "websocket.disconnect",
                    "code": self.profile.receive_after_disconnect,
                }
        message: Message = channel.items.popleft()
        if message["type"] == "websocket.disconnect":
            self._app_saw_disconnect = True
            # the end of the socket (granian), which a refused handshake's is not
            if self._close_read and not self._receive_ended:
                self._receive_ended = True
                if channel.waiters:  # the receives that wait for it find the socket closed
                    channel.wake_all()
            if self._lose_when_taken:
                self._lose_when_taken = False
                self._lose_after(1)  # after this step of the app
            if self._close_unanswered:
                self._answer_client_close()
                code, reason = self._client_close
                self._to_client.put({"type": "websocket.close", "code": code, "reason": reason})
        return message

    async def _receive_watched(self, channel: Channel) -> bool:
        """Wait for a message, known as the task that waits: on this server, a close
        from another task waits for this receive() to return.  False when, instead,
        another receive() has taken the disconnect that closed the socket
        (``ServerProfile.receive_after_disconnect``: granian's receives wait in turn for
        its socket's reader, and the next finds the socket closed)."""
        self._receiving = current_task()
        try:
            while not channel.items:
                await channel.wait(None)
                if self._receive_ended and self.profile.receive_after_disconnect != "wait":
                    return False
            return True
        finally:
            self._receiving = None
            close_waits, self._close_waits = self._close_waits, None
            if close_waits is not None and not close_waits.done():
                close_waits.set_result(None)

    async def _app_send(self, message: Message) -> None:
        if self._handshake_lost:
            self._send_after_lost_handshake(message)
            return
        if self._lost and self.profile.after_lost is not None:
            # uvicorn's first check, before it looks at the message; hypercorn's
            if self.profile.after_lost is Consequence.RAISE:
                raise ClientDisconnected("the client has disconnected")
            self.transcript.record(APP_TO_CLIENT, message)
            return
        if self._read_limit is not None:
            await self._send_to_paused_reader(message)
            return
        # Fast paths for the messages sent most.  tests/test_memory.py proves that each
        # takes only messages the rules pass and the table allows, with the same result.
        if type(message) is dict:
            kind = message.get("type")
            if kind == "websocket.send" and self.app_state is _CONNECTED:
                # is_plain_data(message), inlined: this is the busiest line of the harness
                text, data = message.get("text"), message.get("bytes")
                if (
                    (
                        type(text) is str
                        and data is None
                        and (text.isascii() or unencodable_at(text) is None)
                    )
                    or (type(data) is bytes and text is None)
                ) and self._app_limit is None:
                    if self.client_state is _DISCONNECTED and not self._still_sends():
                        self._after_client_left(message)
                        return
                    self.transcript.record(APP_TO_CLIENT, message)
                    if text or data or self.profile.sends_empty_messages:
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
        if self._receiving is not None:  # only set where a close waits for the receive
            await self._take_or_wait(message)
            return
        self._take(message)

    async def _take_or_wait(self, message: Message) -> None:
        """:meth:`_take`, but a close while another task waits in receive() as this
        server does it (``close_while_receive_waits``)."""
        if (
            self._receiving is not None  # only set where a close waits for the receive
            and self._receiving is not current_task()
            and type(message) is dict
            and message.get("type") == "websocket.close"
        ):
            await self._close_while_receive_waits(message)
            return
        self._take(message)

    def _lose_handshake(self, consequence: Consequence) -> None:
        """The server refuses (``RAISE``) or loses (``IGNORE``: daphne, whose handshake
        then times out, at once in memory) an accept the client would refuse."""
        if consequence in (Consequence.RAISE, Consequence.IGNORE):
            self._handshake_lost = True
        if consequence is Consequence.IGNORE:
            self._to_client.put(_DROPPED)

    def _send_after_lost_handshake(self, message: Message) -> None:
        """A send after the server refused or lost an accept of a subprotocol the client
        never offered: the handshake never completes, and every send raises (uvicorn's
        wsproto as ``ClientDisconnected``, having counted the handshake complete)."""
        self.transcript.record(APP_TO_CLIENT, message)
        if self.profile.after_lost is Consequence.RAISE:
            raise ClientDisconnected("the client has disconnected")
        raise ServerRefused(
            f"{self.profile.name} never completed the handshake: the app accepted a "
            "subprotocol the client did not offer",
            "pick one of scope['subprotocols'], or None",
        )

    async def _close_while_receive_waits(self, message: Message) -> None:
        """A close from one task while another waits in receive(), as on this server:
        sent at once, or held, and send() returns after that receive() has returned."""
        self._close_waits = self._loop.create_future()
        if self.profile.close_while_receive_waits == "returns_after_receive":
            self._take(message)
            await self._close_waits
        else:
            await self._close_waits
            self._take(message)

    def _take(self, message: Message) -> None:
        """Check *message* against the rules and do what the server does with it."""
        self.transcript.record(APP_TO_CLIENT, message)
        facts = Facts(self.app_state, self._offered, self._denial_extension)
        for violation in check_send(facts, message):
            if violation.rule == "message-after-close" and self._ignores_after_close(message):
                return
            if violation.rule == "subprotocol-not-offered":
                self._lose_handshake(self.profile.consequences[violation.rule])
            consequence = self._enforce(violation)
            if consequence is Consequence.IGNORE:
                return
            lenient = self.profile.lenient.get(violation.rule)
            if lenient is not None:
                made = lenient(message)
                if made is None:
                    return
                message = made
        self._apply(message)

    def _ignores_after_close(self, message: Message) -> bool:
        """A message after the app's own close that the server ignores (not strict): an
        empty one, where the server drops empty messages before its protocol's state
        check raises (daphne), or a close, which hypercorn and daphne ignore (granian,
        after a refusal, may give a receive() a disconnect for it); after a close
        hypercorn counted but never sent, this one is sent."""
        if self.strict.enforces("message-after-close"):
            return False
        kind = message.get("type")
        if (
            self._refused
            and kind == "websocket.close"
            and self.profile.close_after_refusal_disconnects
        ):
            self._close_after_refusal()
            return True
        if self.profile.drops_empty(message):
            return True
        if self.profile.close_after_close is not Consequence.IGNORE or kind != "websocket.close":
            return False
        self._check_close_code(message)
        if self._unsent_close is CloseFix.RAISE_CLOSED and self.client_state is _CONNECTED:
            self._close(message)
            return True
        return self.closed is not None

    def _close_after_refusal(self) -> None:
        """A close after a refusal, otherwise ignored, gives a receive() a disconnect
        again, unless one is still queued (``close_after_refusal_disconnects``)."""
        told = self.profile.disconnect_after_refusal[0]
        if told is not None and not any(
            item["type"] == "websocket.disconnect" for item in self._to_app.items
        ):
            self._to_app.put({"type": "websocket.disconnect", "code": told})

    def _check_close_code(self, message: Message) -> None:
        """A close after the app's own: raise if this server checks the code before its
        state and refuses it (``ServerProfile.checks_close_code_first``)."""
        code, reason = as_sent(message.get("code", 1000)), as_sent(message.get("reason") or "")
        if self.profile.refuses_code_before_state(code, reason):
            raise ServerRefused(
                f"{self.profile.name} checks a close's code before it sees the connection "
                f"closing: it cannot send close code {code!r}",
                "send a code this server takes (docs/servers.md)",
            )

    async def _send_to_paused_reader(self, message: Message) -> None:
        """A send while the client does not read: it waits once the buffer is full.

        As on the server: either it waits first, and a cancelled send is lost
        (uvicorn, granian), or it writes and then waits (hypercorn).
        """
        if self.profile.writes_before_waiting:
            await self._take_or_wait(message)
            self._buffered += _size(message)
            await self._until_read()
        else:
            await self._until_read()
            await self._take_or_wait(message)
            self._buffered += _size(message)

    def _buffer_full(self) -> bool:
        return self._read_limit is not None and self._buffered >= self._read_limit

    async def _until_read(self) -> None:
        """Wait while the client does not read and its buffer is full."""
        while self._buffer_full() and self.client_state is not _DISCONNECTED and not self._ending:
            self._reader = self._loop.create_future()
            await self._reader

    def _wake_sender(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.set_result(None)

    def _answer(self) -> None:
        """The client reads the app's close and answers: the connection goes, and the app
        is told (``disconnects_when_gone``), unless it dropped first."""
        due, self._answer_due = self._answer_due, None
        if due is not None:
            self._lose_after_closing_handshake(due)

    def pause_reading(self, buffer: int | None) -> None:
        self._paused = True  # (nor does it read the app's close, to answer it)
        if self.profile.send_buffer is None:
            return  # this server buffers without bound: the app's send() never waits
        self._read_limit = self.profile.send_buffer if buffer is None else buffer
        self._buffered = sum(_size(item) for item in self._to_client.items if type(item) is dict)

    def resume_reading(self) -> None:
        self._paused = False
        if self._answer_due is not None and not self._lost:
            self._answer()
        self._read_limit = None
        self._buffered = 0
        self._wake_sender()

    def _enforce(self, violation: Violation) -> Consequence:
        """Raise for an enforced rule; otherwise do what the server does (RAISE and DROP
        raise too), and return the consequence."""
        if self.strict.enforces(violation.rule):
            error = violation.error()
            self.failures.add(error)  # reported to the test even if the app swallows it
            self._to_client.wake_all()
            raise error
        consequence = self.profile.consequences[violation.rule]
        if consequence is Consequence.DROP:
            self._drop()
        if consequence is Consequence.RAISE or consequence is Consequence.DROP:
            raise violation.error()
        return consequence

    def _still_sends(self) -> bool:
        """After the client's close: whether this server still delivers the app's messages."""
        return self.profile.sends_until_disconnect_read and not self._app_saw_disconnect

    def _after_client_left(self, message: Message) -> None:
        """A message after the client's close: raise, or be ignored, as the server does."""
        kind = message.get("type")
        consequence = (
            self.profile.close_after_client_close
            if kind == "websocket.close"
            else self.profile.send_after_client_close
        )
        if self._lost and self.profile.after_lost is not None:
            consequence = self.profile.after_lost
        if kind == "websocket.close":
            self.app_state = _DISCONNECTED
        if consequence is not Consequence.IGNORE:
            raise ClientDisconnected("the client has disconnected")

    def _apply(self, message: Message) -> None:
        """Deliver a message that passed the rules, and move the application state on."""
        state = self.app_state
        target = next_state(_APPLICATION, state, message)
        assert target is not None
        kind = message["type"]
        if (
            self.client_state is _DISCONNECTED
            and state is _CONNECTED
            and (kind != "websocket.send" or not self._still_sends())
            and (kind != "websocket.close" or not self._close_unanswered)
        ):
            self._after_client_left(message)
            return
        if kind == "websocket.send":
            self._deliver(message)
            return
        if kind == "websocket.close" and state is _CONNECTED:
            self._close(message)
            return
        profile = self.profile
        self.app_state = target
        if kind.startswith("websocket.http.response."):
            if not profile.sends_denial:
                return  # this server takes the denial and sends nothing
            if kind == "websocket.http.response.start" and (
                profile.holds_denial_start or not profile.streams_denial_body
            ):
                self._denial_held = message  # sent with its (first) body part
                return
            if not profile.streams_denial_body and message.get("more_body"):
                raise ServerRefused(
                    f"{profile.name} takes a denial's body in one part: this part is lost",
                    "send the whole body in one websocket.http.response.body",
                )
            held, self._denial_held = self._denial_held, None
            if held is not None:
                self._to_client.put(held)
        if kind == "websocket.accept":
            pairs = header_pairs(message.get("headers", [])) or []
            self.subprotocol = message.get("subprotocol")
            if profile.sends_accept_headers:
                self.accept_headers = [(name.lower(), value) for name, value in pairs]
        elif target is _DISCONNECTED:  # a close before accept, or the denial's last body
            self._refused = True
            after_close, after_denial = profile.disconnect_after_refusal
            told = after_close if kind == "websocket.close" else after_denial
            turns = profile.refusal_lost_turns
            if told is not None and turns is not None and profile.disconnects_when_gone:
                # told as the server reads the end of the socket the client closes
                self._lose_after(turns, {"type": "websocket.disconnect", "code": told})
                told = turns = None
            if told is not None:
                self._to_app.put({"type": "websocket.disconnect", "code": told})
            if profile.lost_code is not None:
                # then the connection is gone: 1006 after a denial, as no WebSocket was
                lost = profile.lost_code if kind == "websocket.close" else 1006
                self._to_app.put({"type": "websocket.disconnect", "code": lost})
            if turns is not None:
                self._lose_after(turns)
        self._to_client.put(message)

    def _deliver(self, message: Message) -> None:
        """A ``websocket.send`` as the server sends it: one kind, and nothing for none."""
        limit = self._app_limit
        if limit is not None and _size(message) > limit:
            raise ServerRefused(
                f"{self.profile.name} sends no message over {limit} bytes: this one has "
                f"{_size(message)}",
                "send smaller messages, or split this one",
            )
        text, data = message.get("text"), message.get("bytes")
        if not (text or data) and not self.profile.sends_empty_messages:
            return
        if data is not None:
            if type(data) is not bytes or text is not None:
                message = {"type": "websocket.send", "bytes": bytes(data)}
            self._to_client.put(message)
        elif text is not None:
            self._to_client.put(message)

    def _close(self, message: Message) -> None:
        """The app's close after accept: as its server sends it or refuses it
        (``ServerProfile.close_fix``), and as the client reads the frame."""
        profile = self.profile
        # An IntEnum code and a str enum reason go on the wire as their plain values.
        asked_code = as_sent(message.get("code", 1000))
        asked_reason = as_sent(message.get("reason") or "")
        fix, code, reason = profile.close_fix(asked_code, asked_reason)
        if fix is CloseFix.RAISE:
            raise ServerRefused(
                f"{profile.name} cannot send close code {asked_code!r} with reason "
                f"{asked_reason!r:.40}",
                "send a code and a reason this server takes (docs/servers.md)",
            )
        if fix is CloseFix.QUEUE_THEN_RAISE or fix is CloseFix.QUEUE_THEN_RAISE_CLOSED:
            self._to_app.put(self._disconnect(asked_code, asked_reason))
        if fix is CloseFix.QUEUE_THEN_RAISE:
            raise ServerRefused(
                f"{profile.name} cannot send close code {asked_code!r} with reason "
                f"{asked_reason!r:.40}; it told the app it disconnected, and the connection "
                "stays open",
                "send a valid code and a str reason of at most 123 UTF-8 bytes",
            )
        self.app_state = _DISCONNECTED
        if fix is not CloseFix.SEND:  # counted as sent, though nothing went out
            self._unsent_close = fix
            raise ServerRefused(
                f"{profile.name} cannot send close code {asked_code!r} with reason "
                f"{asked_reason!r:.40}; it counts the connection closed, and the client "
                "sees 1006 when the app ends",
                "send a valid code and a str reason of at most 123 UTF-8 bytes",
            )
        self._unsent_close = None
        self._close_unanswered = False
        self._receive_ended = True
        code, reason = as_sent(code), as_sent(reason)
        self.closed = seen = client_reads_close(code, reason)
        after = profile.disconnect_code_after_close
        if after == "own":  # queued at once, as the app sent it
            told = self._disconnect(asked_code, asked_reason)
        elif after == "echo":  # the client's answer: a close it refuses, it answers with 1002
            told = self._disconnect(code if seen[0] == code else 1002, reason)
        else:
            told = self._disconnect(after, reason)
        self._to_client.put({"type": "websocket.close", "code": seen[0], "reason": seen[1]})
        if after == "own":
            self._ended(told)
        elif profile.disconnects_when_gone:  # the answer is told as the connection goes
            self._answer_due = told
            if not self._paused:
                self._answer()
            return
        else:  # the client's answer: behind what it sent before it read the close
            self._behind_the_wire(self._ended, told)
        self._lose_after_closing_handshake()

    def _ended(self, disconnect: Message | None, lost: int | None = None) -> None:
        """The app's queue as the connection ends: *disconnect*, then the one the server
        queues once the connection is gone (uvicorn: 1005), if it queues one."""
        if disconnect is not None:
            self._to_app.put(disconnect)
        lost = self.profile.lost_code if lost is None else lost
        if lost is not None:
            self._to_app.put({"type": "websocket.disconnect", "code": lost})

    def _drop(self, told: int = 1006) -> None:
        """The connection drops, as a real server's does when it fails on a message; the
        app is *told* this code."""
        if self.app_state is _CONNECTING or self.app_state is _RESPONSE:
            self._to_client.put(_DROPPED)
        else:
            self.closed = (1006, "")
            self._to_client.put({"type": "websocket.close", "code": 1006, "reason": ""})
        self.app_state = _DISCONNECTED
        self._to_app.put({"type": "websocket.disconnect", "code": told})

    def _on_app_end(self, runner: AppRunner) -> None:
        if runner.error is not None:
            if self.transport.raise_app_exceptions:
                self.failures.add(runner.error)
        elif runner.result is not None:
            violation = check_return(self.app_state, runner.result)
            if violation is not None and self.strict.enforces(violation.rule):
                self.failures.add(violation.error())
        if self._handshake_lost:
            if self.profile.consequences["subprotocol-not-offered"] is Consequence.RAISE:
                self._to_client.put(_DROPPED)  # no answer ever: the connection closes
            return
        if self._unsent_close is not None and self.closed is None:
            # The server counted a close it never sent: at the app's end, it drops.
            self.closed = (1006, "")
            self._to_client.put({"type": "websocket.close", "code": 1006, "reason": ""})
            return
        if (
            self.app_state is _CONNECTED
            and (self.closed is None or self._close_in_flight())
            and (self.client_state is not _DISCONNECTED or self._close_unanswered)
            and not self._ending
        ):
            # The app ended without closing: the server closes, or never does.
            profile = self.profile
            code = profile.raise_after_accept if runner.error else profile.return_after_accept
            if code is not None and self._buffer_full() and not profile.writes_before_waiting:
                code = 1006  # its close frame waits behind a full buffer: it aborts instead
            if code is not None:
                self.closed = (code, "")
                self._to_client.put({"type": "websocket.close", "code": code, "reason": ""})
                return
        self._to_client.put(_APP_DONE)

    # -- the server's own end ---------------------------------------------------------

    def server_shutdown(self) -> None:
        """The server shuts down: tell the app and the client what the profile says."""
        profile = self.profile
        if self.client_state is not _CONNECTED or self.closed is not None:
            return
        self._ending = "shutdown"
        self._wake_sender()
        if profile.shutdown_disconnect is not None:
            self._to_app.put({"type": "websocket.disconnect", "code": profile.shutdown_disconnect})
        if profile.shutdown_close is not None and profile.shutdown_disconnect is not None:
            self._server_closes(profile.shutdown_close)

    def server_gone(self) -> None:
        """The server's grace period is over: the client sees its last close, if any."""
        close = self.profile.shutdown_close
        if self.closed is None and self.client_state is _CONNECTED and close is not None:
            self._server_closes(close)

    def _server_closes(self, code: int) -> None:
        self.closed = (code, "")
        self.app_state = _DISCONNECTED
        self._to_client.put({"type": "websocket.close", "code": code, "reason": ""})

    # -- the client's side ------------------------------------------------------------

    async def handshake(self, timeout: float) -> MemoryConnection:
        """Start the app and wait for its accept (then return this connection), or raise
        how it refused."""
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
            raised = self.runner.error is not None
            status = profile.raise_before_accept if raised else profile.return_before_accept
            why = "the app raised before accepting" if raised else "the app ended before accepting"
            if status is None:
                self._handshake_dropped(why)
            # the server's own answer: its body for a 500
            await self._denied(status, why, body=profile.error_body if status == 500 else b"")
        if first is _DROPPED:
            self._handshake_dropped("the server failed on what the app sent")
        kind = first["type"]
        if kind == "websocket.accept":
            if self.subprotocol is not None and self.subprotocol not in self._offered:
                # The server sent it, and a real client refuses it: it drops the
                # connection, and the app runs on until it finds out.
                self._client_drops_after(_FAILED_HANDSHAKE_TURNS)
                raise ASGIProtocolError(
                    "subprotocol-not-offered",
                    f"the app accepted with subprotocol {self.subprotocol!r}, which the "
                    "client never offered, so the client failed the handshake",
                    f"application state {self.app_state.name}",
                    "pick one of scope['subprotocols'], or None",
                )
            self.client_state = _CONNECTED
            return self
        if kind == "websocket.close":
            await self._denied(
                profile.close_before_accept,
                close=(first.get("code", 1000), first.get("reason") or ""),
            )
        status, headers, body = first["status"], list(first.get("headers", [])), []
        while True:
            part = await self._next(timeout, "the rest of the denial response")
            if part is _DROPPED:
                self._handshake_dropped("the server failed on the denial response")
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
        # A server lets a refusing app run on; its error, if it ends soon, explains
        # the refusal (the client's exit stops it, as a stopping server does).
        await self.runner.wait(_HANDSHAKE_GRACE, cancel=False)
        self._to_client.close()
        self.failures.raise_pending()
        if close is None:
            raise WebSocketDenied(status, headers or [], body, why)
        code, reason = as_sent(close[0]), as_sent(close[1])
        raise WebSocketDenied(
            status,
            headers or [],
            body,
            close_code=code,
            close_reason=reason if isinstance(reason, str) else str(reason),
        )

    def _handshake_dropped(self, why: str) -> NoReturn:
        """No HTTP answer: the server dropped the connection, which a client reports as 1006."""
        self.client_state = _DISCONNECTED
        self._to_client.close()
        self.failures.raise_pending()
        raise WebSocketDisconnect(1006, f"the connection dropped during the handshake: {why}")

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
            await one_turn(loop)  # the app, woken by what the test just sent, answers first
            while True:
                if failures.first is not None:
                    failures.raise_pending()
                if channel.items:
                    break
                if loop.time() >= deadline:
                    raise WebSocketTimeout(waited_for, timeout, str(self.transcript))
                await channel.wait(deadline)
        return channel.items.popleft()

    async def send(self, message: Message) -> None:
        self.send_nowait(message)

    def send_nowait(self, message: Message) -> bool:
        """Deliver *message* to the app at once: in memory, a send never waits."""
        if self.failures.first is not None:
            self.failures.raise_pending()
        self.transcript.record(CLIENT_TO_APP, message)
        if message["type"] == "websocket.disconnect":
            # the frame reaches the server a few turns later: the app runs meanwhile
            self._client_sends_close(message.get("code", 1000), message.get("reason") or "")
            return True
        limit = self.profile.max_message_size
        text = message.get("text")
        # A character is at most 4 UTF-8 bytes: most texts need no encoding to be measured.
        if text is None or type(text) is not str or len(text) * 4 > limit:
            size = _size(message)
            if size > limit:
                self._too_big(size)
                return True
        if self.profile.receive_has_both_keys:
            message = {"type": "websocket.receive", "bytes": None, "text": None, **message}
        to_app = self._to_app
        waiters = to_app.waiters
        if (
            not self._wire
            and not self._reads_elsewhere
            and ((waiters and not waiters[0][0].done()) or to_app.awaited())
        ):  # the fast path: the app waits for it, and nothing is on its way before it
            to_app.put(message)
        else:
            self._over_the_wire(to_app.put, message)
        return True

    def _client_sends_close(self, code: int, reason: str) -> None:
        """The client's close: the answer it will get, and the server's side of it, which
        comes a few turns later (``client_frame_turns``)."""
        profile = self.profile
        self._client_sent_close = True
        if self._unsent_close is CloseFix.QUEUE_THEN_RAISE_CLOSED:
            # The server counted the close it refused as sent, and takes this one for
            # the answer to it: it tells the app nothing and answers nothing.
            return
        echo = code if profile.close_echo == "client" else profile.close_echo
        # the echo carries the client's reason where the server sends reasons at all
        self._client_close = (echo, reason if echo == code and profile.sends_close_reason else "")
        if self.closed is None:
            if profile.answers_close_when_read:
                self._close_unanswered = True  # answered when the app receives it
            else:
                self.closed = self._client_close
        if not self._wire and not self._reads_elsewhere and self._to_app.awaited():
            self._client_closes(code, reason)  # _over_the_wire()'s first case, inlined:
        else:  # every session ends here
            self._over_the_wire(self._client_closes, code, reason)

    def _over_the_wire(self, arrive: Callable[..., None], *args: Any, later: int = 0) -> None:
        """A frame the client sent: ``arrive(*args)`` runs as the server reads it,
        ``client_frame_turns`` (and *later*) loop turns later, so that the app's code that
        runs meanwhile goes first, and never before a frame sent earlier.  None while the
        app waits in receive() and nothing is on its way: then the app runs nothing
        meanwhile, and a round trip or a session's close costs no turns (a second task
        of the app may run meanwhile, and then the order differs from a server's in a
        few racing cases)."""
        wire = self._wire
        # The app waits in receive() for it (never where a thread reads the socket).
        waits = not self._reads_elsewhere and self._to_app.awaited()
        if not wire and waits:
            arrive(*args)
            return
        if wire is None:
            wire = self._wire = deque()
        turns = 0 if waits else self.profile.client_frame_turns + later
        wire.append((self._wire_turn + turns, arrive, args))
        if len(wire) == 1:
            self._next_read(self._wire_tick)

    def _behind_the_wire(self, arrive: Callable[..., None], *args: Any) -> None:
        """What the client does once it has read a frame from the server (its answer to
        the app's close): ``arrive(*args)`` after the frames it sent before, or at once."""
        wire = self._wire
        if wire:
            wire.append((self._wire_turn, arrive, args))
        else:
            arrive(*args)

    def _wire_tick(self) -> None:
        self._wire_turn += 1
        wire = self._wire
        assert wire is not None
        while wire and wire[0][0] <= self._wire_turn:
            _, arrive, args = wire.popleft()
            arrive(*args)
        if wire:
            self._next_read(self._wire_tick)

    def _next_read(self, callback: Callable[[], None]) -> None:
        """*callback* on the next turn, where the server reads what the client wrote: as
        the loop polls its sockets, or, from a thread of its own, among the callbacks."""
        if self._reads_elsewhere:
            self._loop.call_soon(callback)
        else:
            call_at_next_poll(self._loop, callback)

    def _close_in_flight(self) -> bool:
        """Whether the client's close is on its way: the server has not read it, and what
        the client gets back is still the server's to decide (its echo, until then)."""
        return self._client_sent_close and self.client_state is _CONNECTED

    def _client_closes(self, code: int, reason: str) -> None:
        """The server reads the client's close: what the app is told; unless the server
        answers only once the app has read it, it answers and closes the connection."""
        profile = self.profile
        self.client_state = _DISCONNECTED
        self._close_read = True
        self._wake_sender()
        due, self._answer_due = self._answer_due, None
        if due is not None:  # it ends the closing handshake the app began: told as it goes
            self._gone(due)
            return
        told = code if profile.disconnect_code == "client" else profile.disconnect_code
        waiting = self._to_app.awaited()  # the app waits in receive()
        self._ended(self._disconnect(told, reason))
        if not self._close_unanswered:
            self._lose_soon(waiting)  # the server closes the connection

    def _answer_client_close(self) -> None:
        """The server answers the client's close once the app has read it, and closes."""
        self._close_unanswered = False
        self.closed = self._client_close
        self._lose_after(1)

    def _lose_soon(self, waiting: bool) -> None:
        """The connection is gone a turn later: an app that waits in receive() still gets
        a turn with the disconnect before that, on asyncio as on trio."""
        if waiting:
            self._lose_when_taken = True
        else:
            self._lose_after(1)

    def _lose_after(self, turns: int, disconnect: Message | None = None) -> None:
        """The connection is gone after *turns* loop turns (``ServerProfile.after_lost``);
        the app is told *disconnect* then, if any, behind the client's frames on their way
        (``ServerProfile.disconnects_when_gone``)."""
        if turns > 0:
            self._loop.call_soon(self._lose_after, turns - 1, disconnect)
        elif disconnect is None:
            self._lost = True
        else:
            self._behind_the_wire(self._gone, disconnect)

    def _lose_after_closing_handshake(self, disconnect: Message | None = None) -> None:
        """The connection is gone (and the app told *disconnect*, if any) as the client's
        answer to the app's close is read: the client reads the close at the next poll
        and answers at once, the server reads the answer at the poll after and closes
        the socket, and asyncio reports the connection lost on the turn after that."""
        loop = self._loop
        call_at_next_poll(loop, call_at_next_poll, loop, self._lose_after, 1, disconnect)

    def _gone(self, disconnect: Message) -> None:
        self._lost = True
        self._ended(disconnect)

    def _disconnect(self, code: int, reason: str) -> Message:
        """The ``websocket.disconnect`` the app gets: with the reason if this server
        passes reasons on."""
        disconnect: Message = {"type": "websocket.disconnect", "code": code}
        if self.profile.disconnect_reason:
            disconnect["reason"] = reason
        return disconnect

    def _too_big(self, size: int) -> None:
        """A message over the server's limit: it closes (or hangs), and tells the app."""
        to_client, to_app = self.profile.too_big
        limit = self.profile.max_message_size
        self.client_state = _DISCONNECTED
        self._wake_sender()
        code, reason = to_app
        self._to_app.put(self._disconnect(code, reason.format(size=size, limit=limit)))
        if to_client is None:
            self._ending = "never"
            return
        code, reason = to_client
        self.closed = (code, reason.format(size=size, limit=limit))
        self._to_client.put({"type": "websocket.close", "code": code, "reason": self.closed[1]})

    def _client_drops_after(self, turns: int) -> None:
        """The client drops the connection *turns* loop turns from now, as a client does
        that failed the handshake; from now on the client reads nothing."""
        self.closed = (1006, "")
        if turns <= 0:
            self.client_state = _DISCONNECTED
            self._lost = True
            self._wake_sender()
            self._to_app.put({"type": "websocket.disconnect", "code": self.profile.drop_code})
        else:
            self._loop.call_soon(self._client_drops_after, turns - 1)

    def drop(self) -> None:
        """The client's connection drops, with no close frame: the app is told so, when
        the server sees it, a few turns later."""
        self.transcript.record(CLIENT_TO_APP, {"type": "websocket.disconnect", "dropped": True})
        self.closed = self.closed or (1006, "")
        self._over_the_wire(self._dropped, later=_DROP_TURNS)

    def _dropped(self) -> None:
        self.client_state = _DISCONNECTED
        self._close_read = True  # (the server has the end of its socket too)
        self._lost = True
        self._wake_sender()
        due, self._answer_due = self._answer_due, None
        if due is not None and type(self.profile.disconnect_code_after_close) is int:
            self._to_app.put(due)  # the code the app's close gave the connection
        else:
            self._to_app.put({"type": "websocket.disconnect", "code": self.profile.drop_code})

    async def receive(self, timeout: float) -> Message:
        channel = self._to_client
        if channel.items and self.failures.first is None:  # the fast path: already there
            item = channel.items.popleft()
        else:
            item = await self._next(timeout, "a message from the app")
        while item is _APP_DONE:
            if self.client_state is _DISCONNECTED and self._ending != "never":
                code, reason = self.closed or self._client_close  # the client left first
                return {"type": "websocket.close", "code": code, "reason": reason}
            # The app ended and the server never closes: nothing more will come.
            item = await self._next(timeout, "a message from the app")
        message: Message = item
        if message["type"] == "websocket.close":
            self.client_state = _DISCONNECTED
        return message

    def receive_nowait(self) -> Message | None:
        """The plain data message at the head of the client's channel, if nothing is due.

        Only the client's side ever takes from that channel, and a deque's popleft is
        atomic: the sync API may call this from its own thread.
        """
        if not self._data_first():
            return None
        message: Message = self._to_client.items.popleft()
        return message

    def _data_first(self) -> bool:
        """Whether a data message is first on the client's channel, and no failure due."""
        items = self._to_client.items
        if not items or self.failures.first is not None:
            return False
        head = items[0]
        return head is not _APP_DONE and head is not _DROPPED and head["type"] == "websocket.send"

    def wait_in_thread(self, timeout: float, *, run_loop: bool = False) -> bool:
        """Wait for the app's next message: run the loop until it is put there (a
        borrowed loop), or sleep until the loop's put wakes this thread.  ``False`` at
        once when what is there is for the loop's receive to handle."""
        channel = self._to_client
        if channel.items or self.failures.first is not None or timeout <= 0:
            return self._data_first()  # come in since receive_nowait() looked: look again
        if not run_loop:
            return channel.wait_in_thread(timeout)
        channel.run_loop_until_woken(self._loop.time() + timeout)  # the put or the deadline
        return True

    async def aclose(self, timeout: float, code: int = 1000, reason: str = "") -> None:
        if self._answer_due is not None and not self._lost:
            self._answer()  # its close frame answers the app's, which it did not read
        if self.client_state is _CONNECTED and self.closed is None and not self._client_sent_close:
            await self.send({"type": "websocket.disconnect", "code": code, "reason": reason})
        try:
            await self.finish(timeout)
        finally:
            self._to_client.close()

    async def abandon(self) -> None:
        self.failures.reported = True
        self.resume_reading()
        self._to_client.close()
        await self.runner.cancel(_HANDSHAKE_GRACE)


def as_sent(value: Any) -> Any:
    """The plain ``int`` or ``str`` a frame carries for *value*: an ``IntEnum`` code or a
    ``str`` enum reason arrives as its value, whatever the member's ``str()`` says."""
    if type(value) is int or type(value) is str:
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return int(value)
    return value


def _size(message: Message) -> int:
    """The payload size of a ``websocket.receive`` or ``websocket.send`` message, in bytes."""
    data = message.get("bytes")
    if data is not None:
        return len(data)
    text = message.get("text")
    return len(text.encode("utf-8")) if isinstance(text, str) else 0
