"""The room tests' app, and its members as the tests play them.

>>> ws = await joined(client, "/ws/lobby")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from yaat import Rooms, WebSocket, Yaat
from yaat_testing import TestClient, WebSocketSession

#: The body of a flood's messages: 1,000 characters with the four-digit number.
MESSAGE = "x" * 996


async def joined(client: TestClient, path: str) -> WebSocketSession:
    """A session on *path*, once the app has said "joined" (its member is in the room)."""
    ws = await client.websocket_connect(path).__aenter__()
    assert await ws.receive_text() == "joined"
    return ws


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) for *condition*, which another task makes true."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"still false after {timeout:g}s")


def room_app(rooms: Rooms) -> Yaat:
    """A room per path: "flood N" publishes N numbered messages then "flooded"; anything
    else is published as it is."""
    app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])

    @app.websocket_route("/ws/{room}")
    async def member(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async with rooms.join(room, websocket):
            await websocket.send_text("joined")
            async for text in websocket.iter_text():
                if text.startswith("flood "):
                    for i in range(int(text.split()[1])):
                        await rooms.publish_text(room, f"{i:04d}{MESSAGE}")
                    await rooms.publish_text(room, "flooded")
                else:
                    await rooms.publish_text(room, text)

    return app
