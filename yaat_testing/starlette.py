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
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Coroutine, Sequence
from types import TracebackType
from typing import Any, Literal, TypeVar
from urllib.parse import urljoin

from starlette.websockets import WebSocketDisconnect

from yaat.websockets import WebSocketDisconnect as YaatWebSocketDisconnect
from yaat_testing.client import _Connect
from yaat_testing.exceptions import WebSocketDenied
from yaat_testing.portal import Portal, refuse_inside_a_loop
from yaat_testing.rules import Strict
from yaat_testing.scope import WebSocketRequest
from yaat_testing.sync import Caller, SyncWebSocketSession
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
    ``yaat_testing.TestClient``) and ``timeout`` (every wait of a session, 5 s).
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
        strict: bool | Strict = True,
        timeout: float = 5.0,
    ) -> None:
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
            strict=strict,
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

    def websocket_connect(  # type: ignore[override]
        self, url: str, subprotocols: Sequence[str] | None = None, **kwargs: Any
    ) -> WebSocketTestSession:
        """A session to *url*; ``headers``, ``cookies``, ``params`` and ``auth`` as httpx takes them."""
        backend = self.async_backend["backend"]
        if backend != "asyncio":
            raise ValueError(
                f"yaat_testing runs WebSocket sessions on asyncio only, and this client has "
                f"backend={backend!r} (HTTP runs on it as Starlette's does): use "
                "backend='asyncio' for WebSocket tests"
            )
        try:
            self.request("GET", urljoin("ws://testserver", url), **kwargs)
        except _WebSocketRequest as upgrade:
            request = upgrade.request
        else:  # pragma: no cover - the transport always raises for ws://
            raise RuntimeError("expected the WebSocket request to reach the transport")
        headers = [
            (name.lower(), value)
            for name, value in request.headers.raw
            if name.lower() not in _HANDSHAKE_HEADERS
        ]
        target = WebSocketRequest(str(request.url), headers, list(subprotocols or ()))
        return WebSocketTestSession(self, _Connect(self.websockets, target, self.websocket_timeout))


class WebSocketTestSession(SyncWebSocketSession):
    """A session with Starlette's names: ``accepted_subprotocol``, ``extra_headers``,
    ``send_json(mode="binary")`` and ``receive_json(mode="binary")``.

    It connects when the ``with`` block starts, and raises Starlette's exceptions.
    """

    accepted_subprotocol: str | None = None
    extra_headers: list[tuple[bytes, bytes]] = []  # noqa: RUF012 - replaced per session

    def __init__(self, client: TestClient, connect: _Connect) -> None:
        self._client = client
        self._connect = connect
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> WebSocketTestSession:
        refuse_inside_a_loop("websocket_connect()")
        with self._stack:
            # Inside `with client:` Starlette's portal runs the lifespan: the app's
            # objects live in its loop.  Outside, a portal of our own, for this session.
            running: Caller | None = self._client.portal
            portal = running if running is not None else self._stack.enter_context(Portal())
            self._portal = portal
            session = self._starlette(lambda: portal.call(self._connect.__aenter__))
            super().__init__(session, portal)
            self.accepted_subprotocol = session.subprotocol
            self.extra_headers = list(session.accept_headers.raw)
            self._stack = self._stack.pop_all()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._stack:
            self._starlette(lambda: self._portal.call(self._connect.__aexit__, exc_type, exc, tb))

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

    def send_json(self, data: Any, mode: Literal["text", "binary", "bytes"] = "text") -> None:
        """Send *data* as JSON, in a text message or (``"binary"``) a binary one."""
        super().send_json(data, "bytes" if mode == "binary" else mode)

    def receive_json(
        self, mode: Literal["text", "binary", "bytes"] = "text", timeout: float | None = None
    ) -> Any:
        """The next message parsed as JSON, from text or (``"binary"``) UTF-8 bytes."""
        return super().receive_json("bytes" if mode == "binary" else mode, timeout)

    def close(
        self, code: int = 1000, reason: str | None = None, timeout: float | None = None
    ) -> None:
        """Disconnect with *code* and *reason*, and wait (bounded) for the app to finish."""
        super().close(code, reason or "", timeout)
