"""Routing: a segment tree from paths to HTTP and WebSocket handlers.

>>> router = Router()
>>> @router.websocket_route("/rooms/{room}/{seat}")
... async def seat(websocket, room: str, seat: int) -> None:
...     await websocket.accept()
...     await websocket.send_json({"room": room, "seat": seat})

Lookup walks the path one segment at a time through dictionaries, so its cost grows
with the depth of the path, not with the number of routes.
"""

from __future__ import annotations

import contextlib
import inspect
import re
import typing
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import unquote

from yaat.constants import DEFAULT_MAX_MESSAGE_SIZE, WebSocketCloseEvent
from yaat.origins import OriginPolicy
from yaat.protocol import WebSocketState
from yaat.requests import Request
from yaat.responses import Response, TextResponse
from yaat.types import ASGIApp, Receive, Scope, Send
from yaat.websockets import WebSocket, WebSocketDisconnect

Handler = Callable[..., Awaitable[Any]]
HandlerT = TypeVar("HandlerT", bound=Handler)

_PARAM = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_INT = re.compile(r"[-+]?[0-9]+", re.ASCII)
_FLOAT = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?", re.ASCII)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"})
_MISSING: Any = object()


@dataclass(frozen=True)
class WebSocketSettings:
    """What a WebSocket route checks before its handler runs, and while it receives.

    A route's own settings win over its router's, a router's over those of the routers
    it is mounted in; the defaults are the same origin and
    :data:`~yaat.constants.DEFAULT_MAX_MESSAGE_SIZE`.
    """

    origins: OriginPolicy = field(default_factory=OriginPolicy)
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE

    def overridden(
        self, origins: OriginPolicy | None, max_message_size: int | None
    ) -> WebSocketSettings:
        if origins is None and max_message_size is None:
            return self
        return WebSocketSettings(
            self.origins if origins is None else origins,
            self.max_message_size if max_message_size is None else max_message_size,
        )


def _policy(allowed_origins: Iterable[str] | None) -> OriginPolicy | None:
    return None if allowed_origins is None else OriginPolicy(allowed_origins)


def _size(max_message_size: int | None) -> int | None:
    if max_message_size is not None and (
        not isinstance(max_message_size, int) or max_message_size < 1
    ):
        raise ValueError(f"max_message_size is a number of bytes >= 1, got {max_message_size!r}")
    return max_message_size


def _convert_int(segment: str) -> int:
    # int() alone would also take " 1", "1_000" and non-ASCII digits.
    if _INT.fullmatch(segment) is None:
        raise ValueError(segment)
    return int(segment)


def _convert_float(segment: str) -> float:
    # float() alone would also take "nan" and "inf".
    if _FLOAT.fullmatch(segment) is None:
        raise ValueError(segment)
    return float(segment)


_CONVERTERS: dict[Any, Callable[[str], Any]] = {str: str, int: _convert_int, float: _convert_float}
_CONVERTER_NAMES = {"str": str, "int": int, "float": float}


@dataclass(frozen=True)
class Param:
    """A ``{name}`` path segment and the type it converts to."""

    name: str
    type: type


Segment = str | Param


def split_template(path: str) -> list[Segment]:
    """Split a route template into static segments and ``{name}`` parameters (as str)."""
    if not isinstance(path, str):
        raise TypeError(f"a route path must be a str such as '/ws', got {type(path).__name__}")
    path = path if path.startswith("/") else "/" + path
    segments: list[Segment] = []
    for text in path[1:].split("/") if path != "/" else []:
        match = _PARAM.fullmatch(text)
        if match is not None:
            segments.append(Param(match.group(1), str))
        elif "{" in text or "}" in text:
            raise ValueError(
                f"route {path!r}: segment {text!r} is not valid; a parameter fills a whole "
                "segment, as in '/rooms/{room}'"
            )
        else:
            segments.append(text)
    names = [s.name for s in segments if isinstance(s, Param)]
    if len(names) != len(set(names)):
        raise ValueError(f"route {path!r} names a path parameter twice")
    return segments


def route_segments(scope: Scope) -> list[str]:
    """The decoded path segments a router matches, relative to ``root_path``.

    Segments come from ``raw_path`` when the server provides it, so that an encoded
    slash (``%2F``) stays inside its segment.
    """
    path: str = scope.get("path", "/")
    root_path: str = scope.get("root_path", "")
    raw_path: bytes | None = scope.get("raw_path")
    if raw_path is not None:
        parts = [unquote(p) for p in raw_path.decode("latin-1").split("/")[1:]]
    else:
        parts = path.split("/")[1:]
    if root_path and path.startswith(root_path):
        # Servers put root_path at the front of path (and raw_path): skip it.
        parts = parts[root_path.rstrip("/").count("/") :]
    return [] if parts == [""] else parts


class Endpoint:
    """A handler with what its signature says: converters and keyword parameters."""

    def __init__(
        self,
        path: str,
        handler: Handler,
        segments: list[Segment],
        kind: str,
        origins: OriginPolicy | None = None,
        max_message_size: int | None = None,
    ) -> None:
        self.path = path
        self.handler = handler
        self.kind = kind
        #: This route's own settings, where it has them (``None``: its router's).
        self.origins = origins
        self.max_message_size = max_message_size
        signature = _signature(handler, kind)
        params = list(signature.parameters.values())
        takes_all = any(p.kind is p.VAR_KEYWORD for p in params)
        hints = _annotations(handler, signature)
        names = {s.name for s in segments if isinstance(s, Param)}
        for p in params[1:]:
            if p.name in names or p.kind in (p.VAR_KEYWORD, p.VAR_POSITIONAL):
                continue
            if p.default is p.empty:
                raise TypeError(
                    f"{_name(handler)}() for {path!r}: parameter {p.name!r} is neither a path "
                    f"parameter (the path has {sorted(names) or 'none'}) nor optional"
                )
        converted: list[Segment] = []
        for s in segments:
            if isinstance(s, Param):
                annotation = hints.get(s.name, str)
                if annotation not in _CONVERTERS:
                    raise TypeError(
                        f"{_name(handler)}() for {path!r}: path parameter {s.name!r} is "
                        f"annotated {getattr(annotation, '__name__', annotation)!s}; "
                        "use str, int or float"
                    )
                s = Param(s.name, annotation)
            converted.append(s)
        self.segments = converted
        #: The parameter names, in path order.
        self.names = [s.name for s in converted if isinstance(s, Param)]
        #: The path parameters passed as keyword arguments.
        self.keywords = {
            n for n in names if takes_all or (n in signature.parameters and params[0].name != n)
        }

    async def serve_websocket(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        params: dict[str, Any],
        settings: WebSocketSettings,
    ) -> None:
        settings = settings.overridden(self.origins, self.max_message_size)
        websocket = WebSocket(scope, receive, send, max_message_size=settings.max_message_size)
        headers = websocket.headers
        if not settings.origins.allows(
            headers.get("origin"), host=headers.get("host"), scheme=scope.get("scheme", "ws")
        ):
            # Before the handler: a page of another site never reaches it (HTTP 403).
            await websocket.deny(403, "origin not allowed")
            return
        try:
            await self.handler(websocket, **self._keywords(params))
        except WebSocketDisconnect:
            # The client left; that is how WebSocket handlers normally end.
            await websocket._handler_returned()
        except Exception:
            if websocket.application_state is not WebSocketState.CONNECTING:
                # The handler's own exception matters more than a failure to close.
                with contextlib.suppress(Exception):
                    await websocket._handler_returned(WebSocketCloseEvent.INTERNAL_ERROR)
            raise
        else:
            # A handler that returns while connected closes cleanly; one that returns
            # before accept() refused the connection, which close() turns into a 403.
            await websocket._handler_returned()

    async def serve_http(
        self, scope: Scope, receive: Receive, send: Send, params: dict[str, Any]
    ) -> None:
        response = await self.handler(Request(scope, receive), **self._keywords(params))
        if not isinstance(response, Response):
            raise TypeError(
                f"{_name(self.handler)}() for {self.path!r} returned "
                f"{type(response).__name__}; return a Response such as TextResponse(...)"
            )
        await response(scope, receive, send)

    def _keywords(self, params: dict[str, Any]) -> dict[str, Any]:
        return {name: params[name] for name in self.keywords if name in params}


def _name(handler: Callable[..., Any]) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


def _signature(handler: Handler, kind: str) -> inspect.Signature:
    argument = "websocket" if kind == "websocket" else "request"
    if not callable(handler):
        raise TypeError(f"a handler must be an async function, got {handler!r}")
    if not inspect.iscoroutinefunction(handler):
        raise TypeError(
            f"{_name(handler)} must be an async function: write "
            f"'async def {getattr(handler, '__name__', 'handler')}({argument}): ...'"
        )
    signature = inspect.signature(handler)
    positional = [
        p
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if not positional:
        raise TypeError(
            f"{_name(handler)}() must take the {argument} as its first argument: "
            f"'async def {handler.__name__}({argument}): ...'"
        )
    return signature


def _annotations(handler: Handler, signature: inspect.Signature) -> dict[str, Any]:
    try:
        return typing.get_type_hints(handler)
    except Exception:  # an unresolvable hint elsewhere in the signature
        pass
    # Annotations may be strings (PEP 563): resolve the plain builtins by name.
    hints: dict[str, Any] = {}
    for p in signature.parameters.values():
        annotation = p.annotation
        if annotation is p.empty:
            continue
        if isinstance(annotation, str):
            annotation = _CONVERTER_NAMES.get(annotation, annotation)
        hints[p.name] = annotation
    return hints


@dataclass
class Mount:
    """A router or ASGI app served under a path prefix."""

    prefix: str
    app: ASGIApp
    websocket: bool
    names: list[str] = field(default_factory=list)


@dataclass
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    #: Parameter children by converted type; names live in the endpoints and mounts,
    #: so '/a/{x}' and '/a/{y}' reach the same node (and clash as duplicates).
    params: dict[type, _Node] = field(default_factory=dict)
    http: dict[str, Endpoint] = field(default_factory=dict)
    websocket: Endpoint | None = None
    mount: Mount | None = None

    def child(self, segment: Segment) -> _Node:
        table: dict[Any, _Node] = self.params if isinstance(segment, Param) else self.static
        key = segment.type if isinstance(segment, Param) else segment
        node = table.get(key)
        if node is None:
            node = table[key] = _Node()
        return node


@dataclass
class Match:
    """What a lookup found: the endpoint or mount, and the parameters converted so far."""

    values: list[Any]
    endpoint: Endpoint | None = None
    mount: Mount | None = None
    consumed: int = 0
    allowed: frozenset[str] = frozenset()


class Router:
    """Routes by path to HTTP handlers, WebSocket handlers and mounted routers.

    >>> router = Router()
    >>> async def ws_handler(websocket):
    ...     await websocket.accept()
    >>> router.add_websocket_route("/ws", ws_handler)
    """

    def __init__(
        self,
        *,
        allowed_origins: Iterable[str] | None = None,
        max_message_size: int | None = None,
    ) -> None:
        self._root = _Node()
        #: Every registered route and mount, in order: ``(kind, path, handler or app)``.
        self.routes: list[tuple[str, str, Any]] = []
        #: The origins its WebSocket routes accept (``None``: as the router it is mounted
        #: in, or the same origin); see :mod:`yaat.origins`.
        self.origins = _policy(allowed_origins)
        #: The largest message its WebSocket routes accept (``None``: as the router it is
        #: mounted in, or :data:`~yaat.constants.DEFAULT_MAX_MESSAGE_SIZE`).
        self.max_message_size = _size(max_message_size)

    # -- registration -----------------------------------------------------------------

    def add_route(
        self, path: str, handler: Handler = _MISSING, methods: Iterable[str] | None = None
    ) -> None:
        """Serve HTTP requests to *path* with ``async def handler(request, **params)``."""
        _check_path_first("add_route", path, handler)
        methods = ["GET"] if methods is None else [m.upper() for m in methods]
        unknown = sorted(set(methods) - _METHODS)
        if unknown or not methods:
            raise ValueError(
                f"add_route({path!r}): unknown methods {unknown or methods}; "
                f"use some of {sorted(_METHODS)}"
            )
        if "GET" in methods and "HEAD" not in methods:
            methods.append("HEAD")
        segments = split_template(path)
        endpoint = Endpoint(path, handler, segments, "http")
        node = self._node(endpoint.segments)
        taken = sorted(set(methods) & set(node.http))
        if taken:
            raise ValueError(f"route {path!r} is already registered for {', '.join(taken)}")
        node.http.update(dict.fromkeys(methods, endpoint))
        self.routes.append(("http", path, handler))

    def route(
        self, path: str, methods: Iterable[str] | None = None
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator form of :meth:`add_route`: ``@app.route("/", methods=["GET"])``."""

        def register(handler: HandlerT) -> HandlerT:
            self.add_route(path, handler, methods)
            return handler

        return register

    def add_websocket_route(
        self,
        path: str,
        handler: Handler = _MISSING,
        *,
        allowed_origins: Iterable[str] | None = None,
        max_message_size: int | None = None,
    ) -> None:
        """Serve WebSockets at *path* with ``async def handler(websocket, **params)``.

        ``allowed_origins`` and ``max_message_size`` override the router's for this route.
        """
        _check_path_first("add_websocket_route", path, handler)
        endpoint = Endpoint(
            path,
            handler,
            split_template(path),
            "websocket",
            _policy(allowed_origins),
            _size(max_message_size),
        )
        node = self._node(endpoint.segments)
        if node.websocket is not None:
            raise ValueError(
                f"WebSocket route {path!r} is already registered "
                f"(to {_name(node.websocket.handler)})"
            )
        node.websocket = endpoint
        self.routes.append(("websocket", path, handler))

    def websocket_route(
        self,
        path: str,
        *,
        allowed_origins: Iterable[str] | None = None,
        max_message_size: int | None = None,
    ) -> Callable[[HandlerT], HandlerT]:
        """Decorator form of :meth:`add_websocket_route`: ``@app.websocket_route("/ws")``."""

        def register(handler: HandlerT) -> HandlerT:
            self.add_websocket_route(
                path, handler, allowed_origins=allowed_origins, max_message_size=max_message_size
            )
            return handler

        return register

    def mount(self, prefix: str, router: ASGIApp, websocket: bool = False) -> None:
        """Serve *router* under *prefix* (``"ws"`` means ``"/ws"``).

        With ``websocket=True`` every route of *router*, those added with ``route()``
        included, is served as a WebSocket endpoint, and HTTP requests get 404.
        The prefix is appended to the scope's ``root_path``.
        """
        if not callable(router):
            raise TypeError(f"mount({prefix!r}): router must be a Router or an ASGI app")
        if router is self:
            raise ValueError(f"mount({prefix!r}): a router cannot be mounted inside itself")
        segments = split_template(prefix)
        node = self._node(segments)
        if node.mount is not None:
            raise ValueError(f"prefix {prefix!r} is already mounted")
        normalised = "/" + "/".join(
            str(s) if isinstance(s, str) else "{" + s.name + "}" for s in segments
        )
        names = [s.name for s in segments if isinstance(s, Param)]
        node.mount = Mount(normalised, router, websocket, names)
        self.routes.append(("mount", normalised, router))

    def _node(self, segments: list[Segment]) -> _Node:
        node = self._root
        for segment in segments:
            node = node.child(segment)
        return node

    # -- lookup -----------------------------------------------------------------------

    def match(
        self, kind: str, method: str, segments: list[str], websocket_mount: bool = False
    ) -> Match | None:
        """Find the endpoint or mount for *segments*; ``Match.allowed`` is set for a 405."""
        return _walk(self._root, segments, 0, [], kind, method, websocket_mount)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await _lifespan_without_handlers(receive, send)
            return
        settings = _DEFAULTS.overridden(self.origins, self.max_message_size)
        await self._dispatch(scope, receive, send, route_segments(scope), {}, False, settings)

    def largest_message_size(self) -> int:
        """The largest message any WebSocket route here accepts, mounts included: what
        ``yaat run`` gives the server as its own limit."""
        sizes = self._limits(_DEFAULTS.overridden(self.origins, self.max_message_size))
        return max(sizes, default=self.max_message_size or DEFAULT_MAX_MESSAGE_SIZE)

    def _limits(self, settings: WebSocketSettings) -> Iterable[int]:
        """Each WebSocket route's limit; a mounted ASGI app's is unknown: the default."""
        for endpoint in _websocket_endpoints(self._root):
            yield endpoint.max_message_size or settings.max_message_size
        for kind, _, target in self.routes:
            if kind == "mount" and isinstance(target, Router):
                yield from target._limits(
                    settings.overridden(target.origins, target.max_message_size)
                )
            elif kind == "mount":
                yield settings.max_message_size

    async def _dispatch(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        segments: list[str],
        params: dict[str, Any],
        websocket_mount: bool,
        settings: WebSocketSettings,
    ) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            raise ValueError(f"yaat serves 'http', 'websocket' and 'lifespan' scopes, got {kind!r}")
        method = scope.get("method", "GET")
        found = None
        if not (websocket_mount and kind == "http"):
            found = self.match(kind, method, segments, websocket_mount)
        if found is None or (found.endpoint is None and found.mount is None):
            await _not_found(scope, receive, send, found)
            return
        owner = found.mount if found.mount is not None else found.endpoint
        assert owner is not None
        params = {**params, **dict(zip(owner.names, found.values, strict=True))}
        if found.mount is not None:
            mount = found.mount
            taken = "/" + "/".join(segments[: found.consumed])
            child = {
                **scope,
                "root_path": scope.get("root_path", "") + taken.rstrip("/"),
                "path_params": params,
            }
            inner = mount.websocket or websocket_mount
            if isinstance(mount.app, Router):
                inner_settings = settings.overridden(mount.app.origins, mount.app.max_message_size)
                await mount.app._dispatch(
                    child, receive, send, segments[found.consumed :], params, inner, inner_settings
                )
            else:
                await mount.app(child, receive, send)
            return
        assert found.endpoint is not None
        scope = {**scope, "path_params": params}
        if kind == "websocket":
            await found.endpoint.serve_websocket(scope, receive, send, params, settings)
        else:
            await found.endpoint.serve_http(scope, receive, send, params)


def _walk(
    node: _Node,
    segments: list[str],
    index: int,
    values: list[Any],
    kind: str,
    method: str,
    websocket_mount: bool,
) -> Match | None:
    """Depth-first: static children before parameters, routes before mounts.

    *values* holds the converted parameters met so far, in path order.
    """
    refused: Match | None = None
    if index == len(segments):
        if kind == "websocket":
            endpoint = node.websocket
            if endpoint is None and websocket_mount and node.http:
                endpoint = next(iter(node.http.values()))
            if endpoint is not None:
                return Match(list(values), endpoint=endpoint)
        elif not websocket_mount and node.http:
            endpoint = node.http.get(method)
            if endpoint is not None:
                return Match(list(values), endpoint=endpoint)
            refused = Match(list(values), allowed=frozenset(node.http))
    else:
        segment = segments[index]
        child = node.static.get(segment)
        if child is not None:
            found = _walk(child, segments, index + 1, values, kind, method, websocket_mount)
            if found is not None and (found.endpoint or found.mount):
                return found
            refused = refused or found
        for converter, child in node.params.items() if segment else ():
            # An empty segment ("/ws/") is no parameter's value: it never matches.
            try:
                values.append(_CONVERTERS[converter](segment))
            except ValueError:
                continue  # a failed conversion is a non-match
            found = _walk(child, segments, index + 1, values, kind, method, websocket_mount)
            values.pop()
            if found is not None and (found.endpoint or found.mount):
                return found
            refused = refused or found
    if node.mount is not None:
        return Match(list(values), mount=node.mount, consumed=index)
    return refused


_DEFAULTS = WebSocketSettings()


def _websocket_endpoints(node: _Node) -> Iterable[Endpoint]:
    if node.websocket is not None:
        yield node.websocket
    for child in (*node.static.values(), *node.params.values()):
        yield from _websocket_endpoints(child)


def _check_path_first(call: str, path: object, handler: object) -> None:
    if handler is _MISSING or not isinstance(path, str):
        raise TypeError(
            f"{call}(path, handler) takes the path first, then the handler: "
            f"app.{call}('/ws', ws_handler), got {call}({path!r}"
            + ("" if handler is _MISSING else f", {handler!r}")
            + ")"
        )


async def _not_found(scope: Scope, receive: Receive, send: Send, found: Match | None) -> None:
    if scope["type"] == "websocket":
        # Closing before accept is how ASGI refuses a handshake: the client gets 403.
        await send({"type": "websocket.close", "code": 1000})
    elif found is not None and found.allowed:
        allow = ", ".join(sorted(found.allowed))
        await TextResponse("Method Not Allowed", 405, {"allow": allow})(scope, receive, send)
    else:
        await TextResponse("Not Found", 404)(scope, receive, send)


async def _lifespan_without_handlers(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
