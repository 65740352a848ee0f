"""Live mode: the same session API over real sockets, against the app served by uvicorn.

>>> async with TestClient(app, live=True) as client:  # doctest: +SKIP
...     async with client.websocket_connect("/ws") as ws:   # a real `websockets` client
...         assert await ws.receive_text() == "Hello"

uvicorn runs in the test's own event loop on 127.0.0.1 and a free port, and stops with
the client.  The app is wrapped so that its exceptions still reach the test with their
own type and traceback.  What live mode cannot do the same way:

- strict ASGI validation: uvicorn is the judge, so the app's mistakes surface the way
  uvicorn surfaces them (a ``RuntimeError`` in ``send()``, an HTTP 500, a dropped
  connection) instead of as ``ASGIProtocolError``;
- the transcript holds what the client sent and received, not the app's raw messages;
- ``wss://`` base URLs (no TLS here); the scope's ``client`` is the real socket address;
- ``accept_headers`` leave out the headers uvicorn adds itself (``date``, ``server``,
  and the handshake's own).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import socket
from typing import Any
from urllib.parse import urlsplit

from yaat.types import ASGIApp, Message, Receive, Scope, Send
from yaat.websockets import WebSocketDisconnect
from yaat_testing.exceptions import (
    ASGIProtocolError,
    LifespanFailed,
    WebSocketDenied,
    WebSocketTimeout,
)
from yaat_testing.transport import (
    Transcript,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketTransport,
    request_target,
)

SESSION_HEADER = "x-yaat-testing-session"
# Headers uvicorn and the handshake add on their own: not what the app accepted with.
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
_ids = itertools.count(1)


class LiveServer:
    """uvicorn serving *app* on 127.0.0.1 in the running loop, with the app's errors kept."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        lifespan: str = "auto",
        root_path: str = "",
        timeout: float = 5.0,
        ws: str = "websockets-sansio",
    ) -> None:
        self.app = app
        self.lifespan = lifespan
        self.root_path = root_path
        self.timeout = timeout
        self.ws = ws
        self.port = 0
        #: Exceptions raised by the app, by session id ("" for lifespan and HTTP).
        self.errors: dict[str, BaseException] = {}
        self.finished: dict[str, asyncio.Event] = {}
        #: The message types each session's app sent, to explain a handshake's end.
        self.sent: dict[str, list[str]] = {}
        self.tasks: dict[str, asyncio.Task[Any]] = {}
        self._lifespan_messages: dict[str, str] = {}
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._lifespan_task: asyncio.Task[Any] | None = None
        self._app_tasks: set[asyncio.Task[Any]] = set()
        self._socket: socket.socket | None = None

    async def start(self) -> None:
        """Start uvicorn; raise ``LifespanFailed`` if the app's startup fails."""
        import uvicorn  # live mode only: the in-memory harness never needs it

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        self._socket = sock
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._serve,
            interface="asgi3",  # a bound method would pass for ASGI 2 in uvicorn's guess
            ws=self.ws,
            lifespan=self.lifespan,  # type: ignore[arg-type]
            root_path=self.root_path,
            log_level="critical",  # the app's errors are raised in the test instead
            timeout_graceful_shutdown=max(1, math.ceil(self.timeout)),
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.get_running_loop().create_task(self._run(sock))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        while not self._server.started and not self._task.done():
            if loop.time() > deadline:
                await self.stop()
                raise WebSocketTimeout("lifespan.startup.complete", self.timeout)
            await asyncio.sleep(0.005)
        if not self._server.started:
            await self.stop()
            error = self.errors.get("")
            default = (
                "the app raised before lifespan.startup.complete"
                if error
                else "uvicorn did not start"
            )
            raise LifespanFailed(
                "startup", self._lifespan_messages.get("startup", default)
            ) from error

    def forget(self, session: str) -> None:
        """Drop what was kept about *session*, once its connection has ended."""
        tables: tuple[dict[str, Any], ...] = (self.errors, self.finished, self.sent, self.tasks)
        for table in tables:
            table.pop(session, None)

    async def _run(self, sock: socket.socket) -> None:
        # SystemExit is uvicorn's word for a failed startup; start() reports it.
        with contextlib.suppress(SystemExit):
            await self._server.serve(sockets=[sock])

    async def stop(self) -> None:
        """Stop uvicorn (lifespan shutdown included), bounded by the timeout."""
        task, self._task = self._task, None
        if task is not None:
            self._server.should_exit = True
            await asyncio.wait({task}, timeout=self.timeout * 2)
            if not task.done():
                task.cancel()
                await asyncio.wait({task}, timeout=self.timeout)
        # uvicorn leaves an app stuck in lifespan startup, or one still running after
        # its graceful-shutdown timeout, cancelling or running: finish them here.
        stuck = {t for t in self._app_tasks if not t.done()}
        for app_task in stuck:
            app_task.cancel()
        if stuck:
            await asyncio.wait(stuck, timeout=self.timeout)
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        if "shutdown" in self._lifespan_messages:
            raise LifespanFailed(
                "shutdown", self._lifespan_messages["shutdown"]
            ) from self.errors.get("")

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        session = ""
        for name, value in scope.get("headers", ()):
            if name == SESSION_HEADER.encode():
                session = value.decode()
        task = asyncio.current_task()
        assert task is not None
        self._app_tasks.add(task)
        if scope["type"] == "lifespan":
            send = self._watch_lifespan(send)
            self._lifespan_task = task
        done = None
        if session:
            done = self.finished.setdefault(session, asyncio.Event())
            self.tasks[session] = task
            send = self._watch_session(session, send)
        try:
            await self.app(scope, receive, send)
        except asyncio.CancelledError:
            raise  # the harness's own clean-up, not the app's failure
        except BaseException as exc:
            if not _is_server_disconnect(exc):
                self.errors.setdefault(session, exc)
            raise
        finally:
            self._app_tasks.discard(task)
            if done is not None:
                done.set()

    def _watch_session(self, session: str, send: Send) -> Send:
        sent = self.sent.setdefault(session, [])

        async def watched(message: Message) -> None:
            sent.append(str(message.get("type")) if isinstance(message, dict) else "?")
            await send(message)

        return watched

    def _watch_lifespan(self, send: Send) -> Send:
        async def watched(message: Message) -> None:
            kind = str(message.get("type", ""))
            if kind.endswith(".failed"):
                self._lifespan_messages[kind.split(".")[1]] = str(message.get("message", ""))
            await send(message)

        return watched


def _is_server_disconnect(exc: BaseException) -> bool:
    """uvicorn's own "the client is gone" (``ClientDisconnected``), which it ignores."""
    try:
        from uvicorn.protocols.utils import ClientDisconnected
    except ImportError:  # pragma: no cover - an older uvicorn
        return False
    return isinstance(exc, ClientDisconnected)


class LiveWebSocketTransport(WebSocketTransport):
    """Connects a real ``websockets`` client to a :class:`LiveServer`."""

    def __init__(self, server: LiveServer, *, raise_app_exceptions: bool = True) -> None:
        self.server = server
        self.raise_app_exceptions = raise_app_exceptions

    async def connect(self, request: WebSocketRequest, timeout: float) -> WebSocketConnection:
        url = urlsplit(request.url)
        scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
        if scheme != "ws":
            raise ValueError(
                f"live mode serves plain ws:// only (no TLS here), got {request.url!r}"
            )
        session = str(next(_ids))
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.headers]
        headers.append((SESSION_HEADER, session))
        transcript = Transcript()
        transcript.record("client→app", {"type": "websocket.connect", "url": request.url})
        try:
            return await self._open(request, session, headers, transcript, timeout)
        except BaseException:
            self.server.forget(session)  # no connection came of it
            raise

    async def _open(
        self,
        request: WebSocketRequest,
        session: str,
        headers: list[tuple[str, str]],
        transcript: Transcript,
        timeout: float,
    ) -> WebSocketConnection:
        from websockets.asyncio.client import connect
        from websockets.exceptions import InvalidHandshake, InvalidStatus, NegotiationError
        from websockets.typing import Subprotocol

        url = urlsplit(request.url)
        try:
            # The URL keeps the test's host (the Host header, so websocket.url matches
            # the in-memory one); host and port say where the server really is.
            websocket = await connect(
                url._replace(scheme="ws", path=request_target(url.path)).geturl(),
                host="127.0.0.1",
                port=self.server.port,
                additional_headers=headers,
                subprotocols=[Subprotocol(p) for p in request.subprotocols] or None,
                open_timeout=timeout,
                close_timeout=timeout,
                max_size=None,
                compression=None,
                ping_interval=None,
            )
        except InvalidStatus as exc:
            await self._settle(session, timeout)
            self._raise_app_error(session)
            response = exc.response
            raw = [
                (k.lower().encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.raw_items()
            ]
            sent = self.server.sent.get(session, [])
            why = ""
            if response.status_code == 500 and "websocket.http.response.start" not in sent:
                why = "the app ended before accepting"
            elif response.status_code == 403 and "websocket.close" in sent:
                why = "the app closed before accepting"
            body = bytes(response.body or b"")
            raise WebSocketDenied(response.status_code, raw, body, why) from None
        except NegotiationError as exc:
            self._raise_app_error(session)
            raise ASGIProtocolError(
                "subprotocol-not-offered",
                f"the client failed the handshake: {exc}",
                "ACCEPTED",
                "pick one of scope['subprotocols'], or None",
            ) from None
        except InvalidHandshake:
            # No HTTP response at all, e.g. an app that ended mid-denial: the
            # connection dropped during the handshake, which clients report as 1006.
            await self._settle(session, timeout)
            self._raise_app_error(session)
            raise WebSocketDisconnect(1006, "the connection dropped during the handshake") from None
        except TimeoutError:
            raise WebSocketTimeout(
                "the handshake (websocket.accept)", timeout, str(transcript)
            ) from None
        return LiveWebSocketConnection(self, session, websocket, transcript)

    async def _settle(self, session: str, timeout: float) -> None:
        """Give a refusing app up to *timeout* to finish, so that its error is known."""
        event = self.server.finished.get(session)
        if event is not None:
            waiter = asyncio.ensure_future(event.wait())
            await asyncio.wait({waiter}, timeout=timeout)
            if not waiter.done():
                waiter.cancel()
                await asyncio.wait({waiter})

    def _raise_app_error(self, session: str) -> None:
        if self.raise_app_exceptions:
            error = self.server.errors.pop(session, None)
            if error is not None:
                raise error


class LiveWebSocketConnection(WebSocketConnection):
    """One real WebSocket connection to the served app."""

    def __init__(
        self,
        transport: LiveWebSocketTransport,
        session: str,
        websocket: Any,
        transcript: Transcript,
    ) -> None:
        self._transport = transport
        self._session = session
        self._ws = websocket
        self.transcript = transcript
        self.subprotocol = websocket.subprotocol
        self.accept_headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1"))
            for k, v in websocket.response.headers.raw_items()
            if k.lower() not in _SERVER_HEADERS
        ]
        transcript.record(
            "app→client", {"type": "websocket.accept", "subprotocol": self.subprotocol}
        )

    @property
    def closed(self) -> tuple[int, str] | None:  # type: ignore[override]
        from websockets.protocol import State

        if self._ws.state is not State.CLOSED:
            return None
        received = self._ws.protocol.close_rcvd
        return (1006, "") if received is None else (received.code, received.reason)

    def _raise_failure(self) -> None:
        self._transport._raise_app_error(self._session)

    async def send(self, message: Message) -> None:
        from websockets.exceptions import ConnectionClosed

        self._raise_failure()
        self.transcript.record("client→app", message)
        if message["type"] == "websocket.disconnect":
            await self._ws.close(message.get("code", 1000), message.get("reason") or "")
            return
        data = message.get("bytes") if message.get("bytes") is not None else message.get("text")
        # A closed connection shows on the next receive, as with any real client.
        with contextlib.suppress(ConnectionClosed):
            await self._ws.send(data)

    async def receive(self, timeout: float) -> Message:
        from websockets.exceptions import ConnectionClosed

        self._raise_failure()
        try:
            data = await asyncio.wait_for(self._ws.recv(), timeout)
        except ConnectionClosed as exc:
            self._raise_failure()
            received = exc.rcvd
            message: Message = {
                "type": "websocket.close",
                "code": 1006 if received is None else received.code,
                "reason": "" if received is None else received.reason,
            }
        except TimeoutError:
            self._raise_failure()
            raise WebSocketTimeout(
                "a message from the app", timeout, str(self.transcript)
            ) from None
        else:
            key = "text" if isinstance(data, str) else "bytes"
            message = {"type": "websocket.send", key: data}
        self.transcript.record("app→client", message)
        return message

    @property
    def app_error(self) -> BaseException | None:
        """The exception the app raised, if any (whether or not it was re-raised)."""
        return self._transport.server.errors.get(self._session)

    async def aclose(self, timeout: float, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)
        try:
            await self._finish(timeout)
        finally:
            self._transport.server.forget(self._session)

    async def _wait_app(self, timeout: float) -> bool:
        """Wait for the app to end; cancel it after *timeout*. True if it ended by itself."""
        task = self._transport.server.tasks.get(self._session)
        if task is None or task.done():
            return True
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if done:
            return True
        task.cancel()
        await asyncio.wait({task}, timeout=timeout)
        return False

    async def abandon(self) -> None:
        self._ws.transport.abort()
        task = self._transport.server.tasks.get(self._session)
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=self._transport.server.timeout)
        self._transport.server.forget(self._session)
