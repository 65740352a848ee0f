"""What a client asks for, and the ``websocket`` scope a server builds from it.

>>> scope = build_scope(WebSocketRequest("ws://testserver/rooms/a%20b?x=1", subprotocols=["chat"]))
>>> scope["path"], scope["query_string"], scope["subprotocols"]
('/rooms/a b', b'x=1', ['chat'])
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple
from urllib.parse import quote, unquote, urljoin, urlsplit

from yaat.types import Scope

#: The WebSocket scheme for each HTTP scheme, and back.
_WEBSOCKET_SCHEMES = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
_HTTP_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}


class WebSocketRequest(NamedTuple):
    """What a client asks for: a URL, extra headers and the subprotocols it offers.

    A named tuple, not a frozen dataclass: one is built per session, on the hot path.
    """

    url: str
    headers: Sequence[tuple[bytes, bytes]] = ()
    subprotocols: Sequence[str] = ()


#: An HTTP token (RFC 9110 §5.6.2): what a subprotocol name must be.
_TOKEN = re.compile(r"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")


def offered_subprotocols(subprotocols: object) -> list[str]:
    """The subprotocols a client offers, checked as the ``websockets`` client checks them.

    >>> offered_subprotocols(["graphql-transport-ws", "graphql-ws"])
    ['graphql-transport-ws', 'graphql-ws']
    >>> offered_subprotocols("graphql-ws")
    Traceback (most recent call last):
    ...
    TypeError: subprotocols='graphql-ws' is a str, and a client takes a list: it would offer each character as a subprotocol (the websockets client raises "subprotocols must be a list"). Instead, pass subprotocols=['graphql-ws']
    """
    if subprotocols is None:
        return []
    if isinstance(subprotocols, (str, bytes)):
        raise TypeError(
            f"subprotocols={subprotocols!r} is a {type(subprotocols).__name__}, and a client "
            "takes a list: it would offer each character as a subprotocol (the websockets "
            'client raises "subprotocols must be a list"). Instead, pass '
            f"subprotocols=[{subprotocols!r}]"
        )
    if not isinstance(subprotocols, (list, tuple)):
        raise TypeError(
            f"subprotocols takes a list of str, got {type(subprotocols).__name__} "
            f"{subprotocols!r:.60}: pass e.g. subprotocols=['chat']"
        )
    for name in subprotocols:
        if not isinstance(name, str):
            raise TypeError(
                f"subprotocols holds {name!r}, a {type(name).__name__}: each subprotocol "
                "is a str, e.g. subprotocols=['chat']"
            )
        if _TOKEN.fullmatch(name) is None:
            raise ValueError(
                f"subprotocol {name!r} cannot be offered: a subprotocol is an HTTP token "
                "(letters, digits and !#$%&'*+-.^_`|~, no spaces or commas), and the "
                "websockets client refuses it (invalid subprotocol)"
            )
    return list(subprotocols)


@functools.lru_cache(maxsize=1024)
def join_url(base_url: str, path: str) -> str:
    """``urljoin(base_url, path)``, cached: a suite opens thousands of sessions to a
    handful of paths."""
    return urljoin(base_url, path)


def websocket_scheme(url: str) -> str:
    """``"ws"`` or ``"wss"`` for *url*, whose scheme may be ws, wss, http or https.

    >>> websocket_scheme("https://example.com/")
    'wss'
    """
    scheme = urlsplit(url).scheme
    if scheme not in _WEBSOCKET_SCHEMES:
        raise ValueError(f"a WebSocket URL needs the ws, wss, http or https scheme, got {url!r}")
    return _WEBSOCKET_SCHEMES[scheme]


def http_scheme(url: str) -> str:
    """``"http"`` or ``"https"`` for *url*, whose scheme may be ws, wss, http or https."""
    return _HTTP_SCHEMES[websocket_scheme(url)]


def request_target(path: str) -> str:
    """Percent-encode what a client would before sending *path*: ``"/a b"`` → ``"/a%20b"``."""
    return quote(path or "/", safe="/%!$&'()*+,;=:@~")


@functools.lru_cache(maxsize=1024)
def _url_parts(url: str) -> tuple[str, tuple[str, int], str, bytes, bytes, bytes]:
    """``scheme, server, path, raw_path, query_string, host`` of a WebSocket URL.

    Cached: tests connect to the same few URLs thousands of times.
    """
    scheme = websocket_scheme(url)
    parts = urlsplit(url)
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


def build_scope(
    request: WebSocketRequest,
    *,
    spec_version: str | None = "2.4",
    root_path: str = "",
    client: tuple[str, int] | None = ("testclient", 50000),
    state: Mapping[str, Any] | None = None,
    extensions: Mapping[str, Any] | None = None,
    ports_as_str: bool = False,
    http_fields: bool = True,
) -> Scope:
    """The ``websocket`` scope a server gives the app for *request*.

    ``state`` (what the lifespan stored) is copied shallowly, as the lifespan spec asks;
    ``None`` leaves the key out, as servers without lifespan state do.  The last three
    arguments follow servers that differ: no ``spec_version``, ports as str (granian),
    no ``http_version`` and ``scheme`` (daphne).
    """
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
    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": spec_version},
        "http_version": "1.1",
        "scheme": scheme,
        "server": server,
        "client": client,
        "root_path": root_path,
        "path": root_path + path if root_path else path,
        "raw_path": (quote(root_path).encode("ascii") + raw_path) if root_path else raw_path,
        "query_string": query_string,
        "headers": headers,
        "subprotocols": list(request.subprotocols),
        "extensions": dict(extensions or {}),
    }
    if state is not None:
        scope["state"] = dict(state)
    if spec_version is None:
        del scope["asgi"]["spec_version"]
    if ports_as_str:
        scope["server"] = (server[0], str(server[1]))
        if client is not None:
            scope["client"] = (client[0], str(client[1]))
    if not http_fields:
        del scope["http_version"], scope["scheme"]
    return scope
