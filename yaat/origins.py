"""Which web pages may open a WebSocket: the ``Origin`` check.

>>> policy = OriginPolicy(["https://chat.example.com"])
>>> policy.allows("https://chat.example.com", host="api.example.com", scheme="wss")
True
>>> policy.allows("https://evil.example", host="api.example.com", scheme="wss")
False
>>> OriginPolicy().allows("http://127.0.0.1:8000", host="127.0.0.1:8000", scheme="ws")
True

Browsers send ``Origin`` with every WebSocket handshake, and send the page's cookies
whatever the page's site: without a check, any page on any site can open a connection
as its visitor (cross-site WebSocket hijacking).  The rules, in order:

1. No ``Origin`` header: allowed.  Browsers always send one; other clients (scripts,
   servers, the ``websockets`` library) usually do not, and a check would not stop them.
2. With an allow-list: allowed when the origin is in it.  Entries are
   ``scheme://host[:port]``, compared without case and with default ports (80, 443)
   left out; ``"*"`` allows every origin, ``"null"`` the opaque origin of sandboxed
   pages and ``file:`` URLs.
3. Without one (the default): same origin only.  The origin's host and port must be
   the ``Host`` header's, the port defaulting to 80 or 443 by the scheme.  Behind a
   proxy that rewrites ``Host``, list the public origins instead.

A refused handshake gets HTTP 403 before the handler runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

#: Default ports, by scheme: an origin or Host without a port has this one.
DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}

Origin = tuple[str, str, int]  # (scheme, host, port)


def parse_origin(value: str) -> Origin | None:
    """``(scheme, host, port)`` of an origin such as ``https://Example.com:443``; ``None``
    for the opaque origin ``null`` and anything that is not an origin."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in DEFAULT_PORTS or not host or parts.path not in ("", "/"):
        return None
    if parts.query or parts.fragment or parts.username or parts.password:
        return None
    return scheme, host, port if port is not None else DEFAULT_PORTS[scheme]


class OriginPolicy:
    """The origins allowed to open WebSockets: a list, or (``None``) the same origin."""

    def __init__(self, allowed: Iterable[str] | None = None) -> None:
        if isinstance(allowed, str):
            raise TypeError(
                f"allowed_origins takes a list of origins, got the str {allowed!r}: "
                f"write [{allowed!r}]"
            )
        self.any = False
        self.null = False
        self.origins: frozenset[Origin] | None = None
        if allowed is None:
            return
        origins = set()
        for entry in allowed:
            if entry == "*":
                self.any = True
            elif entry == "null":
                self.null = True
            else:
                origin = parse_origin(entry) if isinstance(entry, str) else None
                if origin is None:
                    raise ValueError(
                        f"allowed_origins: {entry!r} is not an origin; write "
                        "'scheme://host[:port]' with no path, e.g. 'https://example.com', "
                        "or '*' for every origin, or 'null'"
                    )
                origins.add(origin)
        self.origins = frozenset(origins)

    def __repr__(self) -> str:
        if self.origins is None:
            return "OriginPolicy(same origin)"
        entries = sorted(f"{s}://{h}:{p}" for s, h, p in self.origins)
        entries += ["*"] * self.any + ["null"] * self.null
        return f"OriginPolicy({entries})"

    def allows(self, origin: str | None, *, host: str | None, scheme: str) -> bool:
        """Whether a handshake with this ``Origin`` (``None``: none sent) may go on."""
        if origin is None:
            return True
        if self.any:
            return True
        if origin.strip() == "null":
            return self.null
        parsed = parse_origin(origin)
        if parsed is None:
            return False
        if self.origins is not None:
            return parsed in self.origins
        return host is not None and _same_host(parsed, host, scheme)


def _same_host(origin: Origin, host: str, scheme: str) -> bool:
    """Whether the origin names the host the client connected to (``Host`` header)."""
    target = parse_origin(f"{'https' if scheme in ('wss', 'https') else 'http'}://{host}")
    return target is not None and target[1:] == origin[1:]
