"""Which ASGI interface an app speaks, and ASGI 3 for every app.

>>> class Legacy:  # ASGI 2: a class called with the scope, then awaited
...     def __init__(self, scope): self.scope = scope
...     async def __call__(self, receive, send): ...
>>> is_asgi3(Legacy), is_asgi3(as_asgi3(Legacy))
(False, True)

Servers guess the same way: uvicorn and Starlette's ``TestClient`` treat a class, or a
callable whose ``__call__`` is not a coroutine function, as ASGI 2.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from yaat.types import ASGIApp, Receive, Scope, Send

#: An ASGI 2 ("double callable") app: called with the scope, it returns the instance.
ASGI2App = Callable[[Scope], Callable[[Receive, Send], Awaitable[None]]]


def is_asgi3(app: object) -> bool:
    """Whether *app* is an ASGI 3 callable: ``await app(scope, receive, send)``."""
    if inspect.isclass(app):
        return hasattr(app, "__await__")
    while isinstance(app, functools.partial):
        app = app.func
    if inspect.iscoroutinefunction(app):
        return True
    call = getattr(app, "__call__", None)  # noqa: B004 - an instance's __call__
    return inspect.iscoroutinefunction(call)


def as_asgi3(app: ASGIApp | ASGI2App) -> ASGIApp:
    """*app* itself if it speaks ASGI 3; an ASGI 3 wrapper around an ASGI 2 app."""
    if is_asgi3(app):
        return app  # type: ignore[return-value]
    legacy: Any = app

    async def asgi3(scope: Scope, receive: Receive, send: Send) -> None:
        instance = legacy(scope)
        await instance(receive, send)

    asgi3.__qualname__ = f"as_asgi3({getattr(app, '__qualname__', repr(app))})"
    return asgi3
