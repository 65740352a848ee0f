"""Incoming connections: what HTTP requests and WebSockets have in common, and ``Request``.

>>> async def health(request: Request) -> "TextResponse":
...     return TextResponse(f"ok from {request.url.path}")
"""

from __future__ import annotations

import json
from functools import cached_property
from typing import TYPE_CHECKING, Any

from yaat.datastructures import URL, Address, Headers, QueryParams, parse_cookies
from yaat.types import Receive, Scope

if TYPE_CHECKING:
    from yaat.responses import TextResponse  # noqa: F401  (used in the doctest above)


class HTTPConnection:
    """The connection data shared by :class:`Request` and ``WebSocket``."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    @cached_property
    def url(self) -> URL:
        """The URL the client asked for, e.g. ``URL('ws://host/ws/room?x=1')``."""
        return URL.from_scope(self.scope)

    @cached_property
    def headers(self) -> Headers:
        """The request headers, case-insensitive and multi-value aware."""
        return Headers(scope=self.scope)

    @cached_property
    def query_params(self) -> QueryParams:
        """The query string, parsed; ``getlist()`` for repeated keys."""
        return QueryParams(self.scope.get("query_string", b""))

    @property
    def path_params(self) -> dict[str, Any]:
        """Parameters the router matched in the path, already converted."""
        params: dict[str, Any] = self.scope.get("path_params", {})
        return params

    @cached_property
    def cookies(self) -> dict[str, str]:
        """Cookies sent with the request."""
        return parse_cookies("; ".join(self.headers.getlist("cookie")))

    @property
    def client(self) -> Address | None:
        """The client's ``(host, port)``, or ``None`` if the server does not say."""
        client = self.scope.get("client")
        return None if client is None else Address(client[0], client[1])

    @property
    def state(self) -> dict[str, Any]:
        """Lifespan state the server copied into this connection's scope."""
        state: dict[str, Any] = self.scope.setdefault("state", {})
        return state


class Request(HTTPConnection):
    """An HTTP request.

    >>> async def echo(request: Request) -> "TextResponse":
    ...     return TextResponse(await request.text())
    """

    def __init__(self, scope: Scope, receive: Receive) -> None:
        if scope.get("type") != "http":
            raise ValueError(
                f"Request needs an 'http' scope, got {scope.get('type')!r}: "
                "use WebSocket for 'websocket' scopes"
            )
        super().__init__(scope)
        self._receive = receive
        self._body: bytes | None = None

    @property
    def method(self) -> str:
        """The HTTP method, upper case."""
        method: str = self.scope["method"]
        return method

    async def body(self) -> bytes:
        """The whole request body (read once, then cached)."""
        if self._body is None:
            chunks: list[bytes] = []
            while True:
                message = await self._receive()
                if message["type"] != "http.request":
                    break  # http.disconnect: the client left mid-body
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
            self._body = b"".join(chunks)
        return self._body

    async def text(self) -> str:
        """The body decoded as UTF-8."""
        return (await self.body()).decode("utf-8")

    async def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(await self.body())
