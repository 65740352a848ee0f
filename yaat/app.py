"""The application: a router that also runs startup and shutdown (ASGI lifespan).

>>> app = Yaat(on_startup=[lambda: print("up")])
>>> @app.websocket_route("/ws")
... async def ws_handler(websocket):
...     await websocket.accept()
...     await websocket.send_text("Hello")
...     await websocket.close()
"""

from __future__ import annotations

import inspect
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

from yaat.routing import Router
from yaat.types import Receive, Scope, Send

Hook = Callable[[], Any]
Lifespan = Callable[["Yaat"], AbstractAsyncContextManager[Mapping[str, Any] | None]]


class Yaat(Router):
    """An ASGI 3 application.

    ``on_startup`` and ``on_shutdown`` hold plain or async callables, run in order.
    ``lifespan`` is an async context manager factory, as in Starlette; a mapping it
    yields is copied into ``scope["state"]``, which handlers read as
    ``websocket.state``.

    ``allowed_origins`` lists the web pages' origins that may open its WebSockets (by
    default, the same origin only: see :mod:`yaat.origins`); ``max_message_size`` is the
    largest message a client may send, in bytes (1 MiB by default).  Routes may override
    both.
    """

    def __init__(
        self,
        on_startup: Sequence[Hook] = (),
        on_shutdown: Sequence[Hook] = (),
        lifespan: Lifespan | None = None,
        *,
        allowed_origins: Iterable[str] | None = None,
        max_message_size: int | None = None,
    ) -> None:
        super().__init__(allowed_origins=allowed_origins, max_message_size=max_message_size)
        for hook in (*on_startup, *on_shutdown):
            if not callable(hook):
                raise TypeError(f"on_startup and on_shutdown take callables, got {hook!r}")
        self.on_startup = list(on_startup)
        self.on_shutdown = list(on_shutdown)
        self.lifespan = lifespan

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._run_lifespan(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)

    async def _run_lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        context: AbstractAsyncContextManager[Mapping[str, Any] | None] | None = None
        try:
            await _run_hooks(self.on_startup)
            if self.lifespan is not None:
                context = self.lifespan(self)
                state = await context.__aenter__()
                if state:
                    if "state" not in scope:
                        raise RuntimeError(
                            "the lifespan yielded state, but the server offers no "
                            "scope['state'] to keep it in: upgrade the server"
                        )
                    scope["state"].update(state)
        except BaseException:
            await send({"type": "lifespan.startup.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        try:
            if context is not None:
                await context.__aexit__(None, None, None)
            await _run_hooks(self.on_shutdown)
        except BaseException:
            await send({"type": "lifespan.shutdown.failed", "message": traceback.format_exc()})
            raise
        await send({"type": "lifespan.shutdown.complete"})


async def _run_hooks(hooks: list[Hook]) -> None:
    for hook in hooks:
        result = hook()
        if inspect.isawaitable(result):
            await result
