"""Connection data: URL, headers, query parameters, addresses.

>>> url = URL("ws://example.com:8000/ws/room?x=1")
>>> (url.scheme, url.hostname, url.port, url.path, url.query)
('ws', 'example.com', 8000, '/ws/room', 'x=1')
"""

from __future__ import annotations

import contextlib
import http.cookies
from collections.abc import Iterable, Iterator, Mapping, Sequence
from functools import cached_property
from typing import NamedTuple
from urllib.parse import SplitResult, parse_qsl, quote, urlencode, urlsplit

from yaat.types import Scope

_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


class Address(NamedTuple):
    """A ``(host, port)`` pair, as in ``scope["client"]``."""

    host: str
    port: int


class URL(str):
    """A URL that is a ``str``, with its parts parsed out.

    >>> URL("wss://h/p") == "wss://h/p"
    True
    >>> URL("wss://h/p").copy_with(path="/q")
    URL('wss://h/q')
    """

    __slots__ = ("__dict__",)

    @classmethod
    def from_scope(cls, scope: Scope) -> URL:
        """Rebuild the URL a client asked for from an ASGI scope."""
        scheme = scope.get("scheme") or ("ws" if scope.get("type") == "websocket" else "http")
        path: str = scope.get("path", "")
        root_path: str = scope.get("root_path", "")
        if not path.startswith(root_path):
            path = root_path + path  # a server that leaves root_path out of path
        # The scope's path is decoded; quote it back, keeping what is legal in a path.
        path = quote(path, safe="/:@!$&'()*+,;=~")
        query = scope.get("query_string", b"").decode("latin-1")
        host = None
        for name, value in scope.get("headers", ()):
            if name == b"host":
                host = value.decode("latin-1")
                break
        if host is None:
            server = scope.get("server")
            if server is None:
                host = ""
            else:
                host_name, port = server[0], server[1]
                default = _DEFAULT_PORTS.get(scheme)
                host = host_name if port in (None, default) else f"{host_name}:{port}"
        url = f"{scheme}://{host}{path}"
        return cls(f"{url}?{query}" if query else url)

    @cached_property
    def components(self) -> SplitResult:
        """The :func:`urllib.parse.urlsplit` result."""
        return urlsplit(self)

    @property
    def scheme(self) -> str:
        return self.components.scheme

    @property
    def netloc(self) -> str:
        return self.components.netloc

    @property
    def hostname(self) -> str | None:
        return self.components.hostname

    @property
    def port(self) -> int | None:
        return self.components.port

    @property
    def path(self) -> str:
        return self.components.path

    @property
    def query(self) -> str:
        return self.components.query

    @property
    def fragment(self) -> str:
        return self.components.fragment

    @property
    def username(self) -> str | None:
        return self.components.username

    @property
    def password(self) -> str | None:
        return self.components.password

    @property
    def is_secure(self) -> bool:
        return self.scheme in ("https", "wss")

    def copy_with(self, **components: str) -> URL:
        """Return a copy with some of ``scheme, netloc, path, query, fragment`` replaced."""
        return URL(self.components._replace(**components).geturl())

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"


class ImmutableMultiDict(Mapping[str, str]):
    """A read-only mapping that keeps every value of a repeated key.

    ``d[key]`` is the last value, as in Starlette; ``d.getlist(key)`` is all of them.
    """

    __slots__ = ("_items", "_last")

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = list(items.items()) if isinstance(items, Mapping) else list(items)
        self._items: list[tuple[str, str]] = pairs
        self._last: dict[str, str] = dict(pairs)

    def getlist(self, key: str) -> list[str]:
        """Every value of *key*, in order; ``[]`` if absent."""
        return [v for k, v in self._items if k == key]

    def multi_items(self) -> list[tuple[str, str]]:
        """Every ``(key, value)`` pair, repeated keys included."""
        return list(self._items)

    def __getitem__(self, key: str) -> str:
        return self._last[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._last)

    def __len__(self) -> int:
        return len(self._last)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ImmutableMultiDict):
            return sorted(self._items) == sorted(other._items)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._items!r})"


class QueryParams(ImmutableMultiDict):
    """Query-string parameters.

    >>> q = QueryParams("a=1&a=2&b=")
    >>> (q["a"], q.getlist("a"), q["b"], str(q))
    ('2', ['1', '2'], '', 'a=1&a=2&b=')
    """

    __slots__ = ()

    def __init__(
        self, query: str | bytes | Iterable[tuple[str, str]] | Mapping[str, str] = ()
    ) -> None:
        if isinstance(query, bytes):
            query = query.decode("latin-1")
        if isinstance(query, str):
            super().__init__(parse_qsl(query, keep_blank_values=True))
        else:
            super().__init__(query)

    def __str__(self) -> str:
        return urlencode(self._items)


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-value aware, read-only HTTP headers.

    >>> h = Headers([(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2")])
    >>> (h["Set-Cookie"], h.getlist("set-cookie"))
    ('a=1', ['a=1', 'b=2'])
    """

    __slots__ = ("raw",)

    def __init__(
        self,
        raw: Iterable[tuple[bytes, bytes]] | None = None,
        *,
        scope: Scope | None = None,
    ) -> None:
        if scope is not None:
            raw = scope.get("headers", ())
        #: The ``(name, value)`` byte pairs, names lowercase, as ASGI carries them.
        self.raw: list[tuple[bytes, bytes]] = [(bytes(k).lower(), bytes(v)) for k, v in (raw or ())]

    @classmethod
    def from_mapping(cls, headers: Mapping[str, str] | Sequence[tuple[str, str]]) -> Headers:
        """Build from ``str`` names and values, as users write them."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        return cls((k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs)

    def getlist(self, key: str) -> list[str]:
        """Every value of *key*, in order; ``[]`` if absent."""
        name = _header_name(key)
        return [v.decode("latin-1") for k, v in self.raw if k == name]

    def __getitem__(self, key: str) -> str:
        name = _header_name(key)
        for k, v in self.raw:
            if k == name:
                return v.decode("latin-1")
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        name = _header_name(key)
        return any(k == name for k, _ in self.raw)

    def __iter__(self) -> Iterator[str]:
        seen: dict[str, None] = {}
        for k, _ in self.raw:
            seen.setdefault(k.decode("latin-1"), None)
        return iter(seen)

    def __len__(self) -> int:
        return len({k for k, _ in self.raw})

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return sorted(self.raw) == sorted(other.raw)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self.raw!r})"


def _header_name(key: str) -> bytes | None:
    # Header names are bytes; only ASCII letters fold case (bytes.lower), as in HTTP.
    try:
        return key.encode("latin-1").lower()
    except UnicodeEncodeError:
        return None  # no header can have this name


def parse_cookies(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header: :mod:`http.cookies` first, leniently where it refuses.

    >>> parse_cookies('a=1; b="x y"; c=é')
    {'a': '1', 'b': 'x y', 'c': 'é'}

    ``SimpleCookie.load`` drops the whole header at the first pair it dislikes, and
    browsers send cookies it dislikes (set by other sites), so each ``;``-separated
    pair is loaded on its own, and one it refuses is kept as ``name=value`` verbatim.
    """
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        chunk = chunk.strip()
        jar: http.cookies.SimpleCookie = http.cookies.SimpleCookie()
        with contextlib.suppress(http.cookies.CookieError):
            jar.load(chunk)
        if jar:
            cookies.update((name, morsel.value) for name, morsel in jar.items())
            continue
        name, sep, value = chunk.partition("=")
        if sep and name.strip():
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies[name.strip()] = value
    return cookies
