"""``TestClient``: owns the app, its lifespan, and the defaults of every session.

>>> async with TestClient(app) as client:  # doctest: +SKIP
...     async with client.websocket_connect("/ws") as ws:
...         assert await ws.receive_text() == "Hello"
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from yaat.types import ASGIApp
from yaat_testing import defaults
from yaat_testing.lifespan import LIFESPAN_MODES, LifespanMode
from yaat_testing.profiles import PROFILES
from yaat_testing.rules import Strict
from yaat_testing.scope import WebSocketRequest, http_scheme, join_url, offered_subprotocols
from yaat_testing.session import WebSocketSession
from yaat_testing.transports import LiveTransport, MemoryTransport, Transport

if TYPE_CHECKING:
    import httpx

    from yaat_testing.portal import Portal
    from yaat_testing.sync import SyncTestClient

HeaderInput = Mapping[str, str] | Sequence[tuple[str, str]]


class TestClient:
    """Runs an ASGI app for tests: lifespan, WebSockets and HTTP, in memory or live.

    >>> async with TestClient(app, timeout=2.0) as client:  # doctest: +SKIP
    ...     response = await client.get("/health")
    ...     async with client.websocket_connect("/ws", subprotocols=["chat"]) as ws:
    ...         await ws.send_text("hi")

    ``strict`` raises ``ASGIProtocolError`` for every ASGI spec violation (``True``),
    for none (``False``), or for all but some (``Strict(ignore=[...])``); ``None`` is
    what the pytest run says (``yaat_strict_ignore``, ``@pytest.mark.yaat_strict``),
    and ``True`` outside pytest;
    ``raise_app_exceptions`` re-raises the app's exceptions in the test, else the
    client sees what a real server shows (HTTP 500 before accept, 1006 after).
    ``lifespan`` is ``"auto"`` (run it if the app supports it), ``"on"`` or ``"off"``.
    ``live`` serves the app with a real server instead (``None``: as the pytest run
    says, ``--yaat-live``), and ``server`` names it: ``"uvicorn"`` (the default),
    ``"uvicorn-wsproto"``, ``"hypercorn"``, ``"daphne"`` or ``"granian"``; in memory,
    sessions then show what that server does (``yaat_testing.profiles``).
    ``transport`` takes any :class:`Transport` instead.  An ASGI 2 app is served as
    ASGI 3, as servers do.
    """

    __test__ = False  # not a test class, whatever pytest's name patterns say

    def __init__(
        self,
        app: ASGIApp | None = None,
        base_url: str = "ws://testserver",
        timeout: float = 5.0,
        raise_app_exceptions: bool = True,
        strict: bool | Strict | None = None,
        *,
        lifespan: LifespanMode = "auto",
        root_path: str = "",
        client: tuple[str, int] = ("testclient", 50000),
        headers: HeaderInput | None = None,
        cookies: Mapping[str, str] | None = None,
        denial_response: bool = True,
        live: bool | None = None,
        server: str | None = None,
        transport: Transport | None = None,
    ) -> None:
        if lifespan not in LIFESPAN_MODES:
            raise ValueError(f"lifespan must be 'auto', 'on' or 'off', got {lifespan!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        if urlsplit(base_url).scheme not in ("ws", "wss", "http", "https"):
            raise ValueError(
                f"base_url must start with ws://, wss://, http:// or https://, got {base_url!r}"
            )
        self.base_url = base_url
        self.timeout = float(timeout)
        self.headers = _header_pairs(headers)
        self.cookies = dict(cookies or {})
        run = defaults.current()
        server = run.server if server is None else server
        if server not in PROFILES:
            raise ValueError(
                f"unknown server {server!r}; the servers are: {', '.join(sorted(PROFILES))}"
            )
        #: The server whose behaviour sessions show: served live, or its profile in memory.
        self.server = server
        self.transport = transport or self._transport(
            app,
            live=run.live if live is None else live,
            strict=run.strict if strict is None else Strict.of(strict),
            raise_app_exceptions=raise_app_exceptions,
            lifespan=lifespan,
            root_path=root_path,
            client=client,
            denial_response=denial_response,
        )
        if app is not None and self.transport.app is not app:
            raise ValueError(
                "TestClient(app, transport=...) got an app and a transport serving another "
                "app: pass the transport alone, TestClient(transport=...)"
            )
        self.app = self.transport.app
        self._http: httpx.AsyncClient | None = None
        self._blocking: tuple[Portal, contextlib.ExitStack] | None = None

    def _transport(
        self,
        app: ASGIApp | None,
        *,
        live: bool,
        strict: Strict,
        raise_app_exceptions: bool,
        lifespan: LifespanMode,
        root_path: str,
        client: tuple[str, int],
        denial_response: bool,
    ) -> Transport:
        if app is None:
            raise TypeError("TestClient needs an app, or a transport=")
        if not live:
            return MemoryTransport(
                app,
                strict=strict,
                raise_app_exceptions=raise_app_exceptions,
                root_path=root_path,
                client=client,
                denial_response=denial_response,
                lifespan=lifespan,
                timeout=self.timeout,
                profile=PROFILES[self.server],
            )
        if not denial_response:
            raise ValueError(
                "denial_response=False needs the in-memory transport: live servers "
                "advertise the websocket.http.response extension themselves"
            )
        return LiveTransport(
            app,
            server=self.server,
            strict=strict,
            raise_app_exceptions=raise_app_exceptions,
            root_path=root_path,
            lifespan=lifespan,
            timeout=self.timeout,
        )

    @property
    def live(self) -> bool:
        """Whether sessions run over real sockets against a real server."""
        return isinstance(self.transport, LiveTransport)

    @property
    def state(self) -> dict[str, Any]:
        """``scope["state"]``: what the app's lifespan stored, copied into each scope."""
        return self.transport.state

    # -- lifespan ---------------------------------------------------------------------

    async def __aenter__(self) -> TestClient:
        await self.transport.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._http is not None:
                http, self._http = self._http, None
                await http.aclose()
        finally:
            await self.transport.__aexit__(exc_type, exc, tb)

    async def shutdown(self, grace: float | None = None) -> None:
        """Shut the server down as SIGTERM does, while sessions are open.

        Each open session sees what its server does (uvicorn: close 1012, and
        ``websocket.disconnect`` 1012 for the app); apps get *grace* seconds (the
        timeout by default) to end.  Then the lifespan shuts down.
        """
        await self.transport.shutdown(self.timeout if grace is None else grace)

    # -- the blocking API -------------------------------------------------------------

    def __enter__(self) -> SyncTestClient:
        """Start the app in an event loop of its own; the methods then block."""
        from yaat_testing.portal import Portal
        from yaat_testing.sync import SyncTestClient

        with contextlib.ExitStack() as stack:
            portal = stack.enter_context(Portal())
            portal.call(self.__aenter__)
            self._blocking = (portal, stack.pop_all())
        return SyncTestClient(self, portal)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._blocking is None:
            raise RuntimeError("TestClient.__exit__() without a `with TestClient(...)` first")
        (portal, stack), self._blocking = self._blocking, None
        with stack:  # stops the loop and joins its thread, whatever happens
            portal.call(self.__aexit__, exc_type, exc, tb)

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
        offered = offered_subprotocols(subprotocols)
        url = join_url(self.base_url, path)
        pairs = self.headers + _header_pairs(headers) if headers else self.headers
        if cookies or self.cookies:
            jar = {**self.cookies, **(cookies or {})}
            pairs = [*pairs, (b"cookie", _cookie_header(jar))]
        request = WebSocketRequest(url, pairs, offered)
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
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.headers]
            self._http = httpx.AsyncClient(
                transport=self.transport.http_transport(),
                base_url=base._replace(scheme=http_scheme(self.base_url)).geturl(),
                headers=headers,
                cookies=self.cookies,
                timeout=self.timeout,
            )
        return self._http

    async def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send an HTTP request to the app through httpx; kwargs as in httpx."""
        return await self._http_client().request(method, url, **kwargs)

    async def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``GET`` *url*."""
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``POST`` *url*."""
        return await self.request("POST", url, **kwargs)


class _Connect:
    """The ``async with`` returned by :meth:`TestClient.websocket_connect`."""

    def __init__(self, transport: Transport, request: WebSocketRequest, timeout: float) -> None:
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
        session = self._session
        assert session is not None
        if exc is None:
            await session.close()  # what the session's __aexit__ does, a coroutine less
        else:
            await session.__aexit__(exc_type, exc, tb)


_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")  # RFC 9110 §5.6.2: a field name
_FIELD_VALUE = re.compile(r"[^\x00\r\n]*")  # no NUL, CR or LF (RFC 9110 §5.5)


def _header_pairs(headers: HeaderInput | None) -> list[tuple[bytes, bytes]]:
    """The extra handshake headers, as a client would send them; what none can is refused."""
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    pairs = []
    for item in items:
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise TypeError(
                f"headers takes a mapping or (name, value) pairs of str, got {item!r:.60}"
            )
        name, value = item
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError(
                f"header {name!r}: {value!r:.40} is not a pair of str: pass "
                "headers={'x-token': 'abc'}"
            )
        if _TOKEN.fullmatch(name) is None or _FIELD_VALUE.fullmatch(value) is None:
            raise ValueError(
                f"header {name!r}: {value!r:.40} cannot be sent: a name is a token (no "
                "spaces or ':'), and a value holds no CR, LF or NUL"
            )
        try:
            pairs.append((name.lower().encode("latin-1"), value.encode("latin-1")))
        except UnicodeEncodeError:
            raise ValueError(
                f"header {name!r}: {value!r:.40} cannot be sent: HTTP headers are Latin-1; "
                "percent-encode the value"
            ) from None
    return pairs


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
