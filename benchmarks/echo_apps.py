"""The same echo route in yaat and in Starlette, for ``benchmarks/server.py``."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

from yaat import Yaat
from yaat.websockets import WebSocket

yaat_app = Yaat()


@yaat_app.websocket_route("/echo")
async def yaat_echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        await websocket.send_text(text)


async def starlette_echo(websocket: StarletteWebSocket) -> None:
    await websocket.accept()
    try:
        while True:
            await websocket.send_text(await websocket.receive_text())
    except StarletteDisconnect:
        pass


starlette_app = Starlette(routes=[WebSocketRoute("/echo", starlette_echo)])
