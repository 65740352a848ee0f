"""Live mode: the same sessions over real sockets, against the app served by a real server.

>>> async with TestClient(app, live=True) as client:  # doctest: +SKIP
...     async with client.websocket_connect("/ws") as ws:   # a real `websockets` client
...         assert await ws.receive_text() == "Hello"

The server (uvicorn by default, ``yaat_testing.servers``) runs in the test's own event
loop on 127.0.0.1 and a free port, and stops with the transport.  It serves
:class:`LiveApp`, a wrapper that runs the user's app through the same
:class:`~yaat_testing.runner.AppRunner` and the same rules (``yaat_testing.rules``) as
the in-memory transport, so app exceptions keep their type and strict mode reports
ASGI violations live too.  What live mode cannot do the same way:

- the transcript holds what the client sent and received, not the app's raw messages;
- ``wss://`` base URLs (no TLS here); the scope's ``client`` is the real socket address;
- ``accept_headers`` leave out the headers the server adds itself (``date``,
  ``server``, and the handshake's own);
- an app's violation of a rule that is not enforced is judged by the real server.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

from yaat.protocol import DENIAL_EXTENSION, Side, WebSocketState, next_state
from yaat.types import ASGIApp, Message, Receive, Scope, Send
from yaat.websockets import WebSocketDisconnect
from yaat_testing.asgi import as_asgi3
from yaat_testing.channel import Channel
from yaat_testing.exceptions import (
    ASGIProtocolError,
    LifespanFailed,
    LiveModeUnavailable,
    WebSocketDenied,
    WebSocketTimeout,
)
from yaat_testing.lifespan import LifespanMode
from yaat_testing.loops import running_loop
from yaat_testing.rules import (
    Facts,
    Strict,
    check_end,
    check_lifespan_send,
    check_receive,
    check_return,
    check_send,
)
from yaat_testing.runner import AppRunner
from yaat_testing.scope import WebSocketRequest, request_target, websocket_scheme
from yaat_testing.servers import SERVERS, LiveServer
from yaat_testing.transcript import APP_TO_CLIENT, CLIENT_TO_APP, Transcript
from yaat_testing.transports.base import Connection, Failures, Transport

if TYPE_CHECKING:
    import httpx

#: The request header that tells the wrapper which session a connection belongs to; it
#: is taken out of the scope before the app sees it.
SESSION_HEADER = "x-yaat-testing-session"
_SESSION_HEADER = SESSION_HEADER.encode()
# Headers servers and the handshake add on their own: not what the app accepted with.
_SERVER_HEADERS = frozenset(
    {
        "upgrade",
        "connection",
        "sec-websocket-accept",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "date",
        "server",
    }
)
_APPLICATION = Side.APPLICATION
_ids = itertools.count(1)


class LiveSession:
    """What the wrapper keeps about one connection, for the test's side of it.

    The app may run in the server's own loop and thread (daphne's reactor): whatever
    the test's loop waits on is set there through ``call_soon_threadsafe``.
    """

    def __init__(self, strict: Strict, loop: asyncio.AbstractEventLoop) -> None:
        self.strict = strict
        #: The test's loop.
        self.loop = loop
        self.runner = AppRunner(channel=Channel(loop))
        self.failures = Failures()
        #: Set when a failure is kept, so that a receive waiting on the socket stops.
        self.failed = asyncio.Event()
        #: The types of the messages the app sent, to explain how a handshake ended.
        self.sent: list[str] = []
        #: ``(code, reason)`` of the app's close before accept, which the server drops.
        self.close_before_accept: tuple[int, str] | None = None
        #: The application state, by the protocol table.
        self.state = WebSocketState.CONNECTING

    def fail(self, failure: BaseException) -> None:
        """Keep *failure* for the test."""
        self.failures.add(failure)
        self.in_test_loop(self.failed.set)

    def in_test_loop(self, callback: Callable[[], object]) -> None:
        """Call *callback* in the test's loop, from whichever thread runs the app."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            callback()
        else:
            self.loop.call_soon_threadsafe(callback)


class LiveApp:
    """The user's app as the live server serves it: every connection checked and recorded.

    ``raise_app_exceptions`` keeps the app's exceptions for the test; the server still
    sees them, and answers as it does.
    """

    def __init__(self, app: ASGIApp, *, strict: Strict, raise_app_exceptions: bool) -> None:
        self.app = as_asgi3(app)
        self.strict = strict
        self.raise_app_exceptions = raise_app_exceptions
        #: The sessions under way, by id.
        self.sessions: dict[str, LiveSession] = {}
        #: The app's own messages of failed lifespan phases, by phase.
        self.lifespan_failures: dict[str, str] = {}
        #: What the app raised in lifespan.
        self.lifespan_error: BaseException | None = None
        #: What the app raised while serving HTTP, oldest first.
        self.http_errors: list[BaseException] = []
        #: The lifespan state, once the server ran the lifespan.
        self.state: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            if scope["type"] == "lifespan":
                await self._lifespan(scope, receive, send)
            elif scope["type"] == "websocket":
                await self._websocket(scope, receive, send)
            else:
                try:
                    await self.app(scope, receive, send)
                except Exception as exc:
                    self.http_errors.append(exc)
                    raise
        finally:
            self._tasks.discard(task)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if isinstance(scope.get("state"), dict):
            self.state = scope["state"]

        phase = "startup"

        async def watched_receive() -> Message:
            nonlocal phase
            message = await receive()
            phase = str(message.get("type", "")).rpartition(".")[2] or phase
            return message

        async def watched(message: Message) -> None:
            violation = check_lifespan_send(phase, message)
            if violation is not None:  # every server raises here, strict or not
                raise violation.error()
            kind = str(message.get("type", ""))
            if kind.endswith(".failed"):
                self.lifespan_failures[phase] = str(message.get("message", ""))
            await send(message)

        try:
            await self.app(scope, watched_receive, watched)
        except Exception as exc:
            self.lifespan_error = exc
            raise

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        session_id = ""
        headers = []
        for name, value in scope.get("headers", ()):
            if name == _SESSION_HEADER:
                session_id = value.decode()
            else:
                headers.append((name, value))
        session = self.sessions.get(session_id)
        if session is None:  # a client other than the test's: serve it as it is
            await self.app(scope, receive, send)
            return
        scope = {**scope, "headers": headers}
        offered = frozenset(scope.get("subprotocols") or ())
        denial = DENIAL_EXTENSION in (scope.get("extensions") or {})
        saw_disconnect = False
        gone: list[BaseException] = []  # the server's own "the client is gone" errors

        async def checked_receive() -> Message:
            nonlocal saw_disconnect
            if saw_disconnect:
                violation = check_receive(session.state, saw_disconnect=True)
                if violation is not None and session.strict.enforces(violation.rule):
                    error = violation.error()
                    session.fail(error)
                    raise error
            message = await receive()
            saw_disconnect = message.get("type") == "websocket.disconnect"
            return message

        async def checked_send(message: Message) -> None:
            kind = message.get("type") if isinstance(message, dict) else "?"
            session.sent.append(str(kind))
            if kind == "websocket.close" and session.state is WebSocketState.CONNECTING:
                session.close_before_accept = (
                    message.get("code", 1000),
                    str(message.get("reason") or ""),
                )
            for violation in check_send(Facts(session.state, offered, denial), message):
                if session.strict.enforces(violation.rule):
                    error = violation.error()
                    session.fail(error)
                    raise error
            try:
                await send(message)
            except OSError as exc:  # ASGI 2.4: the client is gone; the server expects it
                gone.append(exc)
                raise
            target = next_state(_APPLICATION, session.state, message)
            if target is not None:
                session.state = target

        try:
            await session.runner.run(self.app, scope, checked_receive, checked_send)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            if exc not in gone and self.raise_app_exceptions:
                session.fail(exc)
            raise
        else:
            for violation in (
                check_return(session.state, session.runner.result),
                check_end(session.state),
            ):
                if violation is not None and session.strict.enforces(violation.rule):
                    session.fail(violation.error())
        finally:
            session.in_test_loop(session.failed.set)  # the app ended: nothing more will come

    async def cancel_stragglers(self, timeout: float) -> None:
        """Cancel app tasks the server left running (stuck in startup, or past its timeout)."""
        loop = asyncio.get_running_loop()
        stuck = {task for task in list(self._tasks) if not task.done()}
        here = {task for task in stuck if task.get_loop() is loop}
        for task in stuck - here:  # in a server's own loop: cancelled there
            task.get_loop().call_soon_threadsafe(task.cancel)
        for task in here:
            task.cancel()
        if here:
            await asyncio.wait(here, timeout=timeout)


class LiveTransport(Transport):
    """Serves *app* with a real server and connects real ``websockets`` clients to it."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        server: str = "uvicorn",
        strict: bool | Strict = True,
        raise_app_exceptions: bool = True,
        root_path: str = "",
        lifespan: LifespanMode = "auto",
        timeout: float = 5.0,
    ) -> None:
        if server not in SERVERS:
            raise ValueError(
                f"unknown live server {server!r}; the servers are: {', '.join(sorted(SERVERS))}"
            )
        self.app = app
        self.server_name = server
        self.strict = Strict.of(strict)
        self.raise_app_exceptions = raise_app_exceptions
        self.root_path = root_path
        self.lifespan = lifespan
        self.timeout = timeout
        self.live_app = LiveApp(app, strict=self.strict, raise_app_exceptions=raise_app_exceptions)
        self.server: LiveServer | None = None
        #: The client connections not closed yet: aborted when the transport closes.
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()

    @property
    def state(self) -> dict[str, Any]:  # type: ignore[override]
        """The lifespan state the server keeps."""
        return self.live_app.state

    @property
    def port(self) -> int:
        """The port the server listens on."""
        return self._started().port

    def _started(self) -> LiveServer:
        if self.server is None:
            raise RuntimeError(
                "the live server is not running: use `async with TestClient(...)` first"
            )
        return self.server

    async def start(self) -> None:
        """Start the server; ``LifespanFailed`` if the app's startup fails, and
        ``LiveModeUnavailable`` on trio."""
        _on_asyncio()
        server = SERVERS[self.server_name](
            self.live_app, lifespan=self.lifespan, root_path=self.root_path, timeout=self.timeout
        )
        try:
            await server.start()
        except TimeoutError:
            await self.live_app.cancel_stragglers(self.timeout)
            raise WebSocketTimeout("lifespan.startup.complete", self.timeout) from None
        except RuntimeError as exc:
            await self.live_app.cancel_stragglers(self.timeout)
            error = self.live_app.lifespan_error
            default = "the app raised before lifespan.startup.complete" if error else str(exc)
            message = self.live_app.lifespan_failures.get("startup", default)
            raise LifespanFailed("startup", message) from error
        self.server = server

    async def aclose(self) -> None:
        """Stop the server (lifespan shutdown included); ``LifespanFailed`` if that fails."""
        server, self.server = self.server, None
        if server is not None:
            await server.stop()
        for client in list(self._clients):  # sessions the test left open: a client that
            client.transport.abort()  # outlives its server would leak its socket
        await asyncio.sleep(0)  # the transports close on the next turn of the loop
        await self.live_app.cancel_stragglers(self.timeout)
        if "shutdown" in self.live_app.lifespan_failures:
            raise LifespanFailed(
                "shutdown", self.live_app.lifespan_failures["shutdown"]
            ) from self.live_app.lifespan_error

    async def shutdown(self, grace: float) -> None:
        """Stop the server as its SIGTERM handler does, with sessions open."""
        if self.server_name == "granian":
            raise NotImplementedError(
                "granian's embedded server keeps connections open when it stops, unlike a "
                "granian process, whose clients see 1006 at SIGTERM: use the in-memory "
                "profile (server='granian') for shutdown tests"
            )
        await self.aclose()

    async def connect(self, request: WebSocketRequest, timeout: float) -> LiveConnection:
        _on_asyncio()
        if websocket_scheme(request.url) != "ws":
            raise ValueError(
                f"live mode serves plain ws:// only (no TLS here), got {request.url!r}"
            )
        session_id = str(next(_ids))
        session = LiveSession(self.strict, asyncio.get_running_loop())
        self.live_app.sessions[session_id] = session
        transcript = Transcript()
        transcript.record(CLIENT_TO_APP, {"type": "websocket.connect", "url": request.url})
        try:
            websocket = await self._open(request, session_id, session, transcript, timeout)
        except BaseException:
            del self.live_app.sessions[session_id]  # no connection came of it
            raise
        self._clients.add(websocket)
        return LiveConnection(self, session_id, session, websocket, transcript)

    async def _open(
        self,
        request: WebSocketRequest,
        session_id: str,
        session: LiveSession,
        transcript: Transcript,
        timeout: float,
    ) -> Any:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus, NegotiationError
        from websockets.typing import Subprotocol

        url = urlsplit(request.url)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        headers.append((SESSION_HEADER, session_id))
        try:
            # The URL keeps the test's host (the Host header, so websocket.url matches
            # the in-memory one); host and port say where the server really is.
            return await connect(
                url._replace(scheme="ws", path=request_target(url.path)).geturl(),
                host="127.0.0.1",
                port=self.port,
                additional_headers=headers,
                subprotocols=[Subprotocol(p) for p in request.subprotocols] or None,
                open_timeout=timeout,
                close_timeout=timeout,
                max_size=None,
                compression=None,
                ping_interval=None,
            )
        except InvalidStatus as exc:
            await session.runner.wait(timeout)  # so that a refusing app's error is known
            session.failures.raise_pending()
            response = exc.response
            raw = [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.raw_items()
            ]
            body = bytes(response.body or b"")
            closed = session.close_before_accept
            if closed is not None:
                raise WebSocketDenied(
                    response.status_code, raw, body, close_code=closed[0], close_reason=closed[1]
                ) from None
            why = ""
            if response.status_code == 500 and "websocket.http.response.start" not in session.sent:
                why = "the app ended before accepting"
            raise WebSocketDenied(response.status_code, raw, body, why) from None
        except NegotiationError as exc:
            session.failures.raise_pending()
            raise ASGIProtocolError(
                "subprotocol-not-offered",
                f"the client failed the handshake: {exc}",
                f"application state {session.state.name}",
                "pick one of scope['subprotocols'], or None",
            ) from None
        except InvalidHandshake:
            # No HTTP response at all, e.g. an app that ended mid-denial: the
            # connection dropped during the handshake, which clients report as 1006.
            await session.runner.wait(timeout)
            session.failures.raise_pending()
            raise WebSocketDisconnect(1006, "the connection dropped during the handshake") from None
        except TimeoutError:
            session.failures.raise_pending()
            raise WebSocketTimeout(
                "the handshake (websocket.accept)", timeout, str(transcript)
            ) from None

    def http_transport(self) -> httpx.AsyncBaseTransport:
        """httpx's own transport to the server, raising the app's HTTP exceptions."""
        return cast("httpx.AsyncBaseTransport", _LiveHTTPTransport(self))


class _LiveHTTPTransport:
    """Requests go to the real server with the test's Host; the app's exceptions are raised."""

    def __init__(self, transport: LiveTransport) -> None:
        import httpx

        self._transport = transport
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        live = self._transport
        url = request.url.copy_with(scheme="http", host="127.0.0.1", port=live.port)
        request.url = url
        response = await self._inner.handle_async_request(request)
        if live.raise_app_exceptions and live.live_app.http_errors:
            await response.aclose()
            raise live.live_app.http_errors.pop(0)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


class LiveConnection(Connection):
    """One real WebSocket connection to the served app."""

    def __init__(
        self,
        transport: LiveTransport,
        session_id: str,
        session: LiveSession,
        websocket: Any,
        transcript: Transcript,
    ) -> None:
        self._transport = transport
        self._session_id = session_id
        self._session = session
        self._ws = websocket
        self.runner = session.runner
        self.failures = session.failures
        self.transcript = transcript
        self.subprotocol = websocket.subprotocol
        self.accept_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in websocket.response.headers.raw_items()
            if k.lower() not in _SERVER_HEADERS
        ]
        self.transcript.record(
            APP_TO_CLIENT, {"type": "websocket.accept", "subprotocol": self.subprotocol}
        )

    @property
    def closed(self) -> tuple[int, str] | None:  # type: ignore[override]
        from websockets.protocol import State

        if self._ws.state is not State.CLOSED:
            return None
        received = self._ws.protocol.close_rcvd
        return (1006, "") if received is None else (received.code, received.reason)

    async def send(self, message: Message) -> None:
        from websockets.exceptions import ConnectionClosed

        self.failures.raise_pending()
        self.transcript.record(CLIENT_TO_APP, message)
        if message["type"] == "websocket.disconnect":
            await self._ws.close(message.get("code", 1000), message.get("reason") or "")
            return
        data = message.get("bytes") if message.get("bytes") is not None else message.get("text")
        # A closed connection shows on the next receive, as with any real client.
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(data)

    async def receive(self, timeout: float) -> Message:
        from websockets.exceptions import ConnectionClosed

        self.failures.raise_pending()
        try:
            data = await self._recv(timeout)
        except ConnectionClosed as exc:
            await self.runner.wait(timeout)  # the app's failure, if any, explains the close
            self.failures.raise_pending()
            received = exc.rcvd
            message: Message = {
                "type": "websocket.close",
                "code": 1006 if received is None else received.code,
                "reason": "" if received is None else received.reason,
            }
        else:
            key = "text" if isinstance(data, str) else "bytes"
            message = {"type": "websocket.send", key: data}
        self.transcript.record(APP_TO_CLIENT, message)
        return message

    async def _recv(self, timeout: float) -> Any:
        """The next data message; a failure kept meanwhile is raised at once."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        recv = asyncio.ensure_future(self._ws.recv())
        failed = asyncio.ensure_future(self._session.failed.wait())
        await asyncio.wait({recv, failed}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        failed.cancel()
        if not recv.done() and not self.failures.pending:
            # The app ended (or nothing came yet): what it sent, and its close, are on
            # their way.
            await asyncio.wait({recv}, timeout=max(0.0, deadline - loop.time()))
        if recv.done():
            return recv.result()
        recv.cancel()  # websockets' recv() loses nothing when cancelled
        await asyncio.wait({recv})
        self.failures.raise_pending()
        raise WebSocketTimeout("a message from the app", timeout, str(self.transcript))

    def pause_reading(self, buffer: int | None) -> None:
        """Stop reading the socket: the server's and the OS's own buffers fill, then the
        app's ``send()`` waits.  *buffer* is for the in-memory transport only."""
        self._ws.transport.pause_reading()

    def resume_reading(self) -> None:
        self._ws.transport.resume_reading()

    def drop(self) -> None:
        """Abort the TCP connection: no close frame, as when the network fails."""
        self.transcript.record(CLIENT_TO_APP, {"type": "websocket.disconnect", "dropped": True})
        self._ws.transport.abort()

    async def aclose(self, timeout: float, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)
        try:
            await self.finish(timeout)
        finally:
            self._transport.live_app.sessions.pop(self._session_id, None)

    async def abandon(self) -> None:
        self.failures.reported = True
        self._ws.transport.abort()
        await self.runner.cancel(self._transport.timeout)
        self._transport.live_app.sessions.pop(self._session_id, None)


def _on_asyncio() -> None:
    """Raise ``LiveModeUnavailable`` unless asyncio runs here: the embedded servers and
    the ``websockets`` client are asyncio's."""
    if asyncio._get_running_loop() is None:
        running_loop()  # NoEventLoop, with its advice, where no loop runs at all
        raise LiveModeUnavailable("trio")
