"""The room apps benchmarks/rooms.py serves with uvicorn, one per candidate.

Each serves members on ``/ws/{room}`` and a publisher on ``/pub/{room}``: every text
the publisher sends is delivered to every member of the room, as it is.  The Redis URL
comes from ``BENCH_REDIS_URL``.

- ``yaat_memory``, ``yaat_redis``: ``yaat.Rooms``.
- ``starlette_loop``: Starlette, a set of WebSockets and a ``for`` loop of sends.
- ``broadcaster_memory``, ``broadcaster_redis``: Starlette and the ``broadcaster``
  package.  Its Redis backend is patched (see ``SubscribedFirst``): as released, it
  delivers nothing in the first room with redis-py 8.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from broadcaster import Broadcast
from broadcaster._backends.redis import RedisBackend
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

from yaat import RedisPubSub, Rooms, WebSocket, Yaat

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")


def yaat_app(rooms: Rooms) -> Yaat:
    app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])

    @app.websocket_route("/ws/{room}")
    async def member(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async with rooms.join(room, websocket):
            async for _ in websocket.iter_text():
                pass

    @app.websocket_route("/pub/{room}")
    async def publisher(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await rooms.publish_text(room, text)

    return app


yaat_memory = yaat_app(Rooms())
yaat_redis = yaat_app(Rooms(RedisPubSub(REDIS_URL)))


# -- Starlette: a set and a loop -------------------------------------------------------

_members: dict[str, set[StarletteWebSocket]] = defaultdict(set)


async def _loop_member(websocket: StarletteWebSocket) -> None:
    room = websocket.path_params["room"]
    await websocket.accept()
    _members[room].add(websocket)
    try:
        async for _ in websocket.iter_text():
            pass
    finally:
        _members[room].discard(websocket)


async def _loop_publisher(websocket: StarletteWebSocket) -> None:
    room = websocket.path_params["room"]
    await websocket.accept()
    async for text in websocket.iter_text():
        for member in list(_members[room]):
            try:
                await member.send_text(text)
            except (StarletteDisconnect, RuntimeError, OSError):
                _members[room].discard(member)


starlette_loop = Starlette(
    routes=[
        WebSocketRoute("/ws/{room}", _loop_member),
        WebSocketRoute("/pub/{room}", _loop_publisher),
    ]
)


# -- Starlette and broadcaster ---------------------------------------------------------


class SubscribedFirst(RedisBackend):
    """broadcaster's Redis backend, ready only once redis-py has the subscription.

    As released (0.3.1), ``subscribe()`` signals ready before subscribing: the listener
    finds no subscription, ends its ``listen()`` loop and waits for ever.
    """

    async def subscribe(self, channel: str) -> None:
        await self._pubsub.subscribe(channel)
        self._ready.set()


def broadcaster_app(broadcast: Broadcast) -> Starlette:
    async def member(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        async with broadcast.subscribe(channel=websocket.path_params["room"]) as subscriber:
            async for event in subscriber:  # type: ignore[union-attr]
                await websocket.send_text(event.message)

    async def publisher(websocket: StarletteWebSocket) -> None:
        room = websocket.path_params["room"]
        await websocket.accept()
        async for text in websocket.iter_text():
            await broadcast.publish(channel=room, message=text)

    @asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        async with broadcast:
            yield

    return Starlette(
        routes=[WebSocketRoute("/ws/{room}", member), WebSocketRoute("/pub/{room}", publisher)],
        lifespan=lifespan,
    )


broadcaster_memory = broadcaster_app(Broadcast("memory://"))
broadcaster_redis = broadcaster_app(Broadcast(backend=SubscribedFirst(REDIS_URL)))
