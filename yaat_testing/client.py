"""``TestClient``: owns the app, its lifespan, and the defaults of every session.

>>> async with TestClient(app) as client:  # doctest: +SKIP
...     async with client.websocket_connect("/ws") as ws:
...         assert await ws.receive_text() == "Hello"
"""

from __future__ import annotations

import asyncio
import functools
import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

from yaat.types import ASGIApp, Message
from yaat_testing.exceptions import ASGIProtocolError, LifespanFailed, WebSocketTimeout
from yaat_testing.session import WebSocketSession
from yaat_testing.transport import ASGIWebSocketTransport, WebSocketRequest, WebSocketTransport

if TYPE_CHECKING:
    import httpx

    from yaat_testing.live import LiveServer

HeaderInput = Mapping[str, str] | Sequence[tuple[str, str]]

#: What ``live=None`` means; the pytest plugin sets it from ``--yaat-live``.
DEFAULT_LIVE = False


class TestClient:
    """Runs an ASGI app in memory for tests: lifespan, WebSockets and HTTP.

    >>> async with TestClient(app, timeout=2.0) as client:  # doctest: +SKIP
    ...     response = await client.get("/health")
    ...     async with client.websocket_connect("/ws", subprotocols=["chat"]) as ws:
    ...         await ws.send_text("hi")

    ``strict`` raises ``ASGIProtocolError`` for every ASGI spec violation;
    ``raise_app_exceptions`` re-raises the app's exceptions in the test, else the
    client sees what a real server shows (HTTP 500 before accept, 1006 after).
    ``lifespan`` is ``"auto"`` (run it if the app supports it), ``"on"`` or ``"off"``.
    """

    __test__ = False  # not a test class, whatever pytest's name patterns say

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "ws://testserver",
        timeout: float = 5.0,
        raise_app_exceptions: bool = True,
        strict: bool = True,
        *,
        lifespan: str = "auto",
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
        headers: HeaderInput | None = None,
        cookies: Mapping[str, str] | None = None,
        denial_response: bool = True,
        live: bool | None = None,
    ) -> None:
        if lifespan not in ("auto", "on", "off"):
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', got {lifespan!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        scheme = urlsplit(base_url).scheme
        if scheme not in ("ws", "wss", "http", "https"):
            raise ValueError(
                f"base_url must start with ws://, wss://, http:// or https://, got {base_url!r}"
            )
        self.app = app
        self.base_url = base_url
        self.timeout = float(timeout)
        self.raise_app_exceptions = raise_app_exceptions
        self.strict = strict
        self.lifespan = lifespan
        self.root_path = root_path
        self.client = client
        self.headers = _header_pairs(headers)
        self.cookies = dict(cookies or {})
        #: ``scope["state"]``: what the app's lifespan stored, copied into each scope.
        self.state: dict[str, Any] = {}
        self.transport: WebSocketTransport = ASGIWebSocketTransport(
            app,
            strict=strict,
            raise_app_exceptions=raise_app_exceptions,
            root_path=root_path,
            client=client,
            state=self.state,
            denial_response=denial_response,
        )
        self._lifespan_task: asyncio.Task[None] | None = None
        self._lifespan_to_app: asyncio.Queue[Message] | None = None
        self._lifespan_from_app: asyncio.Queue[Message] | None = None
        self._lifespan_error: BaseException | None = None
        self._lifespan_phase = "startup"
        self._http: httpx.AsyncClient | None = None
        #: Whether sessions run over real sockets against uvicorn (``yaat_testing.live``).
        self.live = DEFAULT_LIVE if live is None else live
        self._server: LiveServer | None = None

    # -- lifespan ---------------------------------------------------------------------

    async def __aenter__(self) -> TestClient:
        if self.live:
            from yaat_testing.live import LiveServer, LiveWebSocketTransport

            self._server = LiveServer(
                self.app, lifespan=self.lifespan, root_path=self.root_path, timeout=self.timeout
            )
            await self._server.start()
            self.transport = LiveWebSocketTransport(
                self._server, raise_app_exceptions=self.raise_app_exceptions
            )
        elif self.lifespan != "off":
            await self._lifespan("startup")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._http is not None:
                await self._http.aclose()
                self._http = None
        finally:
            if self._server is not None:
                server, self._server = self._server, None
                await server.stop()
            if self._lifespan_task is not None:
                await self._lifespan("shutdown", failing=exc is not None)

    async def _lifespan(self, phase: str, failing: bool = False) -> None:
        """Run one lifespan phase, as uvicorn does in its "auto" and "on" modes."""
        if phase == "startup":
            self._lifespan_to_app = asyncio.Queue()
            self._lifespan_from_app = asyncio.Queue()
            scope = {
                "type": "lifespan",
                "asgi": {"version": "3.0", "spec_version": "2.0"},
                "state": self.state,
            }
            self._lifespan_task = asyncio.get_running_loop().create_task(self._run_lifespan(scope))
        assert self._lifespan_to_app is not None
        assert self._lifespan_task is not None
        self._lifespan_phase = phase
        await self._lifespan_to_app.put({"type": f"lifespan.{phase}"})
        reply = await self._lifespan_reply(phase, failing)
        if reply is not None and reply["type"] == f"lifespan.{phase}.complete":
            if phase == "shutdown":
                await self._stop_lifespan()
            return
        await self._stop_lifespan()
        if failing:
            return
        if reply is not None:  # lifespan.<phase>.failed
            raise LifespanFailed(phase, str(reply.get("message", ""))) from self._lifespan_error
        error = self._lifespan_error
        if error is None or (phase == "startup" and self.lifespan == "auto"):
            # An app that returns, or (in "auto") raises at once, does not do lifespan.
            return
        raise LifespanFailed(phase, f"the app raised before lifespan.{phase}.complete") from error

    async def _lifespan_reply(self, phase: str, failing: bool) -> Message | None:
        """The app's answer to *phase*, or ``None`` if the app ended first."""
        assert self._lifespan_from_app is not None
        assert self._lifespan_task is not None
        waiter = asyncio.ensure_future(self._lifespan_from_app.get())
        done, _ = await asyncio.wait(
            {waiter, self._lifespan_task}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter in done:
            return waiter.result()
        waiter.cancel()
        await asyncio.wait({waiter})
        if done:
            return None
        await self._stop_lifespan()
        if failing:
            return None
        raise WebSocketTimeout(f"lifespan.{phase}.complete", self.timeout)

    async def _lifespan_send(self, message: Message) -> None:
        phase = self._lifespan_phase
        allowed = (f"lifespan.{phase}.complete", f"lifespan.{phase}.failed")
        if message.get("type") not in allowed:
            raise ASGIProtocolError(
                "lifespan-message",
                f"lifespan send() got {message.get('type')!r}",
                f"lifespan {phase}",
                f"send {allowed[0]!r} or {allowed[1]!r}",
            )
        assert self._lifespan_from_app is not None
        await self._lifespan_from_app.put(message)

    async def _run_lifespan(self, scope: dict[str, Any]) -> None:
        assert self._lifespan_to_app is not None
        try:
            await self.app(scope, self._lifespan_to_app.get, self._lifespan_send)
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # reported by _lifespan()
            self._lifespan_error = exc

    async def _stop_lifespan(self) -> None:
        task, self._lifespan_task = self._lifespan_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=self.timeout)

    # -- WebSockets -------------------------------------------------------------------

    def websocket_connect(
        self,
        path: str,
        subprotocols: Sequence[str] | None = None,
        headers: HeaderInput | None = None,
        cookies: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> _Connect:
        """Open a WebSocket to *path*; use it as ``async with ... as ws``.

        Raises ``WebSocketDenied`` if the app refuses the handshake.
        """
        if isinstance(subprotocols, str):
            raise TypeError("subprotocols takes a list of str, e.g. ['chat'], not a str")
        url = _join(self.base_url, path)
        pairs = self.headers + _header_pairs(headers)
        jar = {**self.cookies, **(cookies or {})}
        if jar:
            pairs.append((b"cookie", _cookie_header(jar)))
        request = WebSocketRequest(url, pairs, list(subprotocols or ()))
        return _Connect(self.transport, request, self.timeout if timeout is None else timeout)

    # -- HTTP -------------------------------------------------------------------------

    def _http_client(self) -> httpx.AsyncClient:
        if self._http is None:
            try:
                import httpx
            except ImportError as exc:
                raise RuntimeError(
                    "HTTP requests in TestClient need httpx: pip install 'yaat[testing]'"
                ) from exc
            base = urlsplit(self.base_url)
            scheme = {"ws": "http", "wss": "https"}.get(base.scheme, base.scheme)
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers]
            transport: httpx.AsyncBaseTransport
            if self._server is not None:
                # The real server, with the test's Host so that request.url matches.
                transport = httpx.AsyncHTTPTransport()
                url = f"http://127.0.0.1:{self._server.port}"
                headers.append(("host", base.netloc))
            else:
                transport = httpx.ASGITransport(
                    app=self._app_with_state,
                    raise_app_exceptions=self.raise_app_exceptions,
                    root_path=self.root_path,
                    client=self.client,
                )
                url = base._replace(scheme=scheme).geturl()
            self._http = httpx.AsyncClient(
                transport=transport,
                base_url=url,
                headers=headers,
                cookies=self.cookies,
                timeout=self.timeout,
            )
        return self._http

    async def _app_with_state(self, scope: Any, receive: Any, send: Any) -> None:
        # httpx's ASGITransport knows no lifespan state; add it as servers do.
        await self.app({**scope, "state": dict(self.state)}, receive, send)

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send an HTTP request through httpx's ASGITransport; kwargs as in httpx."""
        response = await self._http_client().request(method, url, **kwargs)
        if self._server is not None and self.raise_app_exceptions:
            error = self._server.errors.pop("", None)
            if error is not None:
                raise error
        return response

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``GET`` *url*."""
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``POST`` *url*."""
        return await self.request("POST", url, **kwargs)


class _Connect:
    """The ``async with`` returned by :meth:`TestClient.websocket_connect`."""

    def __init__(
        self, transport: WebSocketTransport, request: WebSocketRequest, timeout: float
    ) -> None:
        self._transport = transport
        self._request = request
        self._timeout = timeout
        self._session: WebSocketSession | None = None

    async def __aenter__(self) -> WebSocketSession:
        connection = await self._transport.connect(self._request, self._timeout)
        self._session = WebSocketSession(connection, self._timeout)
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._session is not None
        await self._session.__aexit__(exc_type, exc, tb)


@functools.lru_cache(maxsize=1024)
def _join(base_url: str, path: str) -> str:
    # Cached: a test suite opens thousands of sessions to a handful of paths.
    return urljoin(base_url, path)


def _header_pairs(headers: HeaderInput | None) -> list[tuple[bytes, bytes]]:
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    return [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in items]


_COOKIE_OCTETS = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*")  # RFC 6265 §4.1.1


def _cookie_header(cookies: Mapping[str, str]) -> bytes:
    """``name=value; ...`` as a browser sends it: a value outside RFC 6265's octets is
    double-quoted, and one that no Cookie header can carry is refused."""
    pairs = []
    for name, value in cookies.items():
        if not name or any(c in name for c in ';=," \t\r\n') or not name.isprintable():
            raise ValueError(
                f"cookie name {name!r} cannot be sent in a Cookie header: use a token "
                "without spaces, ';', '=', ',' or quotes"
            )
        if _COOKIE_OCTETS.fullmatch(value) is None:
            if any(c in value for c in ';"\\') or not value.isprintable():
                raise ValueError(
                    f"cookie {name}={value!r} cannot be sent in a Cookie header: a value "
                    "may not hold ';', '\"', '\\\\' or control characters"
                )
            value = f'"{value}"'
        pairs.append(f"{name}={value}")
    return "; ".join(pairs).encode("latin-1")
