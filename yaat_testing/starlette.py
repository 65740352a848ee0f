"""A drop-in for Starlette's and FastAPI's ``TestClient``: change the import, keep the tests.

>>> from yaat_testing.starlette import TestClient  # was: from fastapi.testclient import ...
>>> client = TestClient(app)  # doctest: +SKIP
>>> with client.websocket_connect("/ws") as websocket:  # doctest: +SKIP
...     websocket.send_json({"msg": "hi"})
...     assert websocket.receive_json() == {"msg": "hi"}

It *is* Starlette's ``TestClient`` (HTTP, lifespan, cookies, ``backend`` and every
constructor argument are Starlette's own), with one change: WebSocket sessions run
through yaat_testing's harness, so they report what a client of uvicorn sees, enforce
the ASGI rules, and never hang.  A test that was green on something no real server
does goes red, and the error says why; ``docs/starlette.md`` lists those cases.
Starlette's exception classes are raised: ``starlette.websockets.WebSocketDisconnect``
and ``starlette.testclient.WebSocketDenialResponse``.

It works where Starlette's works: in ``def`` tests and in ``async def`` tests and
fixtures (the app runs in a loop of its own, in another thread), inside and outside
``with client:``, on ``backend="asyncio"`` and ``backend="trio"``.
"""

from __future__ import annotations

import contextlib
import math
import threading
import warnings
from collections.abc import Callable, Coroutine, Iterator, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar

import anyio
from anyio.streams.stapled import StapledObjectStream
from starlette.websockets import WebSocketDisconnect

from yaat.types import Message, Scope
from yaat.websockets import WebSocketDisconnect as YaatWebSocketDisconnect
from yaat_testing import defaults
from yaat_testing.anyio_portal import AnyioPortal
from yaat_testing.exceptions import WebSocketDenied
from yaat_testing.loops import Loop, running_loop
from yaat_testing.portal import BACKENDS, Portal
from yaat_testing.rules import Strict
from yaat_testing.scope import WebSocketRequest, join_url, offered_subprotocols
from yaat_testing.session import WebSocketSession
from yaat_testing.sync import SyncWebSocketSession
from yaat_testing.transports.memory import MemoryTransport

with warnings.catch_warnings():
    # starlette.testclient warns when it falls back from httpx2 to httpx: that is the
    # user's installation to decide, not a reason to fail their tests here.
    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
    from starlette import testclient as _starlette

__all__ = ["TestClient", "WebSocketDenialResponse", "WebSocketDisconnect", "WebSocketTestSession"]

T = TypeVar("T")

#: Starlette's own class, raised for a refused handshake.
WebSocketDenialResponse = _starlette.WebSocketDenialResponse

# Headers the harness writes itself from the URL and the subprotocols it is given.
_HANDSHAKE_HEADERS = frozenset(
    {
        b"host",
        b"connection",
        b"upgrade",
        b"sec-websocket-key",
        b"sec-websocket-version",
        b"sec-websocket-protocol",
    }
)
# What websocket_connect() can take from build_request() alone; anything else (auth,
# extensions, ...) goes through httpx's whole request path.
_BUILT_ARGUMENTS = frozenset({"params", "headers", "cookies"})


def __getattr__(name: str) -> Any:
    """Everything else ``starlette.testclient`` has, so that any import line can change."""
    try:
        return getattr(_starlette, name)
    except AttributeError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


class _WebSocketRequest(Exception):
    """Raised by the transport for a ws:// request: httpx has merged what it must."""

    def __init__(self, request: Any) -> None:
        self.request = request


# httpx2 when installed, httpx otherwise: whichever Starlette's client is built on.
_BaseTransport: Any = getattr(_starlette, "httpx").BaseTransport  # noqa: B009 - not exported


class _Upgrades(_BaseTransport):  # type: ignore[misc]
    """Starlette's transport for HTTP; ws:// requests are handed to the harness."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def handle_request(self, request: Any) -> Any:
        if request.url.scheme in ("ws", "wss"):
            raise _WebSocketRequest(request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


class TestClient(_starlette.TestClient):
    """Starlette's ``TestClient``, with yaat_testing's WebSocket sessions.

    Two keyword arguments are added: ``strict`` (the ASGI rules enforced, as in
    ``yaat_testing.TestClient``; ``None``: what the pytest run says, e.g. the ini key
    ``yaat_strict_ignore``, and every rule outside pytest) and ``timeout`` (every wait
    of a session, 5 s).
    """

    __test__ = False

    def __init__(
        self,
        app: Any,
        base_url: str = "http://testserver",
        raise_server_exceptions: bool = True,
        root_path: str = "",
        backend: Literal["asyncio", "trio"] = "asyncio",
        backend_options: dict[str, Any] | None = None,
        cookies: Any = None,
        headers: dict[str, str] | None = None,
        follow_redirects: bool = True,
        client: tuple[str, int] = ("testclient", 50000),
        *,
        strict: bool | Strict | None = None,
        timeout: float = 5.0,
    ) -> None:
        if backend not in BACKENDS:
            raise ValueError(
                f"backend must be 'asyncio' or 'trio', got {backend!r}: the event loop "
                "the app runs in, as in Starlette's TestClient"
            )
        super().__init__(
            app,
            base_url=base_url,
            raise_server_exceptions=raise_server_exceptions,
            root_path=root_path,
            backend=backend,
            backend_options=backend_options,
            cookies=cookies,
            headers=headers,
            follow_redirects=follow_redirects,
            client=client,
        )
        #: The in-memory transport every WebSocket session goes through.
        self.websockets = MemoryTransport(
            self.app,
            strict=defaults.current().strict if strict is None else Strict.of(strict),
            raise_app_exceptions=raise_server_exceptions,
            root_path=root_path,
            client=client,
            lifespan="off",  # Starlette's own __enter__ runs it, into self.app_state
            timeout=timeout,
        )
        self.websockets.state = self.app_state
        #: The timeout of every wait of a session (httpx's ``timeout`` is for HTTP).
        self.websocket_timeout = timeout
        self._transport = _Upgrades(self._transport)
        self._attached: tuple[Any, Portal] | None = None
        # Outside `with client:`: the portal of the sessions open now, and how many are.
        self._sharing = threading.Lock()
        self._shared: Portal | None = None
        self._users = 0

    def websocket_connect(  # type: ignore[override]
        self, url: str, subprotocols: Sequence[str] | None = None, **kwargs: Any
    ) -> WebSocketTestSession:
        """A session to *url*; ``headers``, ``cookies``, ``params`` and ``auth`` as httpx takes them."""
        offered = offered_subprotocols(subprotocols)
        target = join_url("ws://testserver", url)
        if kwargs or self.auth is not None or self.event_hooks["request"] or self.cookies:
            request = self._handshake_request(target, kwargs)
            target = str(request.url)
            raw = request.headers.raw
        else:  # what httpx would merge in: the client's own headers, nothing else
            raw = self.headers.raw
        headers = [(name.lower(), value) for name, value in raw]
        headers = [pair for pair in headers if pair[0] not in _HANDSHAKE_HEADERS]
        request = WebSocketRequest(target, headers, offered)
        return WebSocketTestSession(self, self.websockets.build_scope(request))

    def _handshake_request(self, url: str, kwargs: dict[str, Any]) -> Any:
        """The GET request httpx would send for *url*: the client's headers, cookies and
        base URL merged with *kwargs*, and its auth and request hooks applied."""
        if (
            kwargs.keys() <= _BUILT_ARGUMENTS
            and self.auth is None
            and not self.event_hooks["request"]
        ):
            # What request() would hand the transport, without its send path.
            return self.build_request("GET", url, **kwargs)
        try:
            self.request("GET", url, **kwargs)
        except _WebSocketRequest as upgrade:
            return upgrade.request
        raise RuntimeError(  # pragma: no cover - the transport always raises for ws://
            "expected the WebSocket request to reach the transport"
        )

    def __enter__(self) -> TestClient:
        """Start the app's lifespan, as Starlette's client does, in a portal of ours:
        HTTP, the lifespan and WebSocket sessions share its loop, and a plain test
        borrows it for each call.  ``client.portal`` has anyio's ``BlockingPortal``
        methods.  With ``backend_options`` (anyio's), Starlette's own portal runs it."""
        if self.async_backend["backend_options"]:
            super().__enter__()
            return self
        with contextlib.ExitStack() as stack:
            portal = stack.enter_context(Portal(self.async_backend["backend"]))  # type: ignore[arg-type]
            self.portal = blocking = AnyioPortal(portal)  # type: ignore[assignment]
            stack.callback(setattr, self, "portal", None)
            send = anyio.create_memory_object_stream[Message | None](math.inf)
            receive = anyio.create_memory_object_stream[Message](math.inf)
            for stream in (*send, *receive):
                stack.callback(stream.close)
            self.stream_send = StapledObjectStream(*send)
            self.stream_receive = StapledObjectStream(*receive)
            self.task = blocking.start_task_soon(self.lifespan)
            blocking.call(self.wait_startup)
            stack.callback(blocking.call, self.wait_shutdown)
            stack.callback(self._transport.close)
            self.exit_stack = stack.pop_all()
        return self

    @contextlib.contextmanager
    def _server_loop(self) -> Iterator[Portal]:
        """Outside ``with client:``, the portal of the sessions open at the same time: as
        on a server, they share one loop (and so do HTTP requests made meanwhile), which
        the last one to close stops."""
        with self._sharing:
            portal = self._shared
            if portal is None:
                portal = self._shared = Portal(self.async_backend["backend"])  # type: ignore[arg-type]
                portal.start()
            self._users += 1
        try:
            yield portal
        finally:
            with self._sharing:
                self._users -= 1
                last = self._users == 0
                if last:
                    self._shared = None
            if last:
                portal.stop()

    @contextlib.contextmanager
    def _portal_factory(self) -> Iterator[Any]:
        """The portal an HTTP request runs in: the client's inside ``with client:``, the
        open sessions' outside it, else a portal of Starlette's own, for this request."""
        if self.portal is None and self._shared is not None:
            # Counted as a user of that loop, so that a session closing meanwhile
            # does not stop it under the request.
            with self._server_loop() as portal:
                yield AnyioPortal(portal)
            return
        with super()._portal_factory() as portal:
            yield portal

    def _portal_in(self, client_portal: Any) -> Portal:
        """Our portal for sessions inside ``with client:``: the one the client runs on, or
        one into the loop of anyio's portal (with ``backend_options``)."""
        if isinstance(client_portal, AnyioPortal):
            return client_portal.portal
        anyio_portal = client_portal
        attached = self._attached
        if attached is None or attached[0] is not anyio_portal:
            loop, thread_id = anyio_portal.call(_loop_and_thread)
            attached = self._attached = (anyio_portal, Portal.attach(loop, thread_id))
        return attached[1]


def _accept_headers(session: WebSocketSession) -> list[tuple[bytes, bytes]] | None:
    """The ``headers`` of the app's ``websocket.accept``, as Starlette's session keeps
    them: ``None`` if it sent none."""
    for entry in session.transcript.entries:
        if entry.message.get("type") == "websocket.accept":
            headers = entry.message.get("headers")
            return None if headers is None else [tuple(pair) for pair in headers]
    return None  # pragma: no cover - a session exists once the app accepted


async def _loop_and_thread() -> tuple[Loop, int]:
    return running_loop(), threading.get_ident()


class WebSocketTestSession(SyncWebSocketSession):
    """Starlette's ``WebSocketTestSession``, through the harness.

    Starlette's names are all here: ``app``, ``scope``, ``portal``, ``portal_factory``,
    ``accepted_subprotocol``, ``extra_headers``, ``exit_stack``, ``send_json(mode=
    "binary")``, ``receive_json(mode="binary")`` and ``close(code, reason)``.  It
    connects when the ``with`` block starts, and raises Starlette's exceptions.
    """

    def __init__(self, client: TestClient, scope: Scope) -> None:
        #: The ASGI app under test (an ASGI 2 app wrapped as ASGI 3, as Starlette does).
        self.app = client.app
        #: The ``websocket`` scope the app gets: this very dict, so what the app
        #: writes to it (a connection hook's ``scope["user"]``) is readable here.
        #: On a real server the scope lives in the server's process, out of reach.
        self.scope = scope
        #: The subprotocol the app accepted with, or ``None``.
        self.accepted_subprotocol: str | None = None
        #: The ``headers`` of the app's ``websocket.accept`` (``[]`` if it sent an empty
        #: list, ``None`` if it sent none), as Starlette keeps them.  A real client sees
        #: them among the handshake response's headers, as its server writes them.
        self.extra_headers: list[tuple[bytes, bytes]] | None = None
        #: Makes the blocking portal a session runs in, as Starlette's does.
        self.portal_factory = client._portal_factory
        #: The blocking portal the session runs in: inside ``with client:`` Starlette's
        #: own (anyio's), outside it a :class:`~yaat_testing.portal.Portal` of its own.
        #: Both take ``portal.call(async_function, *args)``.
        self.portal: Any = None
        #: What leaving the ``with`` block unwinds: the session, then its portal.
        self.exit_stack = contextlib.ExitStack()
        self._client = client

    def __enter__(self) -> WebSocketTestSession:
        client = self._client
        with contextlib.ExitStack() as stack:
            # Inside `with client:` the client's portal runs the lifespan: the app's
            # objects live in its loop.  Outside, the loop of the sessions open now.
            if client.portal is not None:
                self.portal = client.portal
                portal = client._portal_in(client.portal)
            else:
                portal = self.portal = stack.enter_context(client._server_loop())
            transport, timeout = client.websockets, client.websocket_timeout
            connection = self._starlette(lambda: portal.call(transport.open, self.scope, timeout))
            session = WebSocketSession(connection, timeout)
            super().__init__(session, portal)
            self.accepted_subprotocol = session.subprotocol
            self.extra_headers = _accept_headers(session)
            self.exit_stack = stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self.exit_stack:
            self._starlette(lambda: self._portal.call(self.session.__aexit__, exc_type, exc, tb))

    def _call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        return self._starlette(lambda: super(WebSocketTestSession, self)._call(function, *args))

    @staticmethod
    def _starlette(call: Callable[[], T]) -> T:
        """Run *call*, raising Starlette's exceptions for the harness's."""
        try:
            return call()
        except YaatWebSocketDisconnect as closed:
            raise WebSocketDisconnect(closed.code, closed.reason or None) from closed
        except WebSocketDenied as denied:
            response = WebSocketDenialResponse(
                status_code=denied.status_code, headers=denied.headers.raw, content=denied.body
            )
            response.args = denied.args  # the reason, when a real server differs
            if denied.close_code is not None:  # the app's intent, which the server dropped
                response.code = denied.close_code
                response.reason = denied.close_reason
            raise response from denied

    # -- Starlette's spellings --------------------------------------------------------

    def receive_text(self, timeout: float | None = None) -> str:
        """The next text message; Starlette's ``WebSocketDisconnect`` if the app closed."""
        return self._starlette(lambda: super(WebSocketTestSession, self).receive_text(timeout))

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next binary message; Starlette's ``WebSocketDisconnect`` if the app closed."""
        return self._starlette(lambda: super(WebSocketTestSession, self).receive_bytes(timeout))

    def send_json(self, data: Any, mode: Literal["text", "binary", "bytes"] = "text") -> None:
        """Send *data* as JSON, in a text message or (``"binary"``) a binary one."""
        super().send_json(data, "bytes" if mode == "binary" else mode)

    def receive_json(
        self, mode: Literal["text", "binary", "bytes"] = "text", timeout: float | None = None
    ) -> Any:
        """The next message parsed as JSON, from text or (``"binary"``) UTF-8 bytes."""
        return self._starlette(
            lambda: super(WebSocketTestSession, self).receive_json(
                "bytes" if mode == "binary" else mode, timeout
            )
        )

    def close(
        self, code: int = 1000, reason: str | None = None, timeout: float | None = None
    ) -> None:
        """Disconnect with *code* and *reason*, and wait (bounded) for the app to finish."""
        super().close(code, reason or "", timeout)
