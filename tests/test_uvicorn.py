"""An independent check of yaat: a real uvicorn server and the real ``websockets`` client."""

from __future__ import annotations

import pytest
import websockets
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from conftest import serve
from yaat import Yaat
from yaat.websockets import WebSocket

pytestmark = pytest.mark.live


def lifecycle_app() -> Yaat:
    app = Yaat()

    @app.websocket_route("/ws")
    async def ws_handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("Hello")
        await websocket.close()

    @app.websocket_route("/returns")
    async def returns(websocket: WebSocket) -> None:
        await websocket.accept()

    @app.websocket_route("/crash-after")
    async def crash_after(websocket: WebSocket) -> None:
        await websocket.accept()
        raise RuntimeError("crash after accept")

    @app.websocket_route("/crash-before")
    async def crash_before(websocket: WebSocket) -> None:
        raise RuntimeError("crash before accept")

    @app.websocket_route("/deny")
    async def deny(websocket: WebSocket) -> None:
        await websocket.deny(401, "log in first")

    @app.websocket_route("/echo/{n}")
    async def echo(websocket: WebSocket, n: int) -> None:
        await websocket.accept(subprotocol="chat" if "chat" in websocket.subprotocols else None)
        async for text in websocket.iter_text():
            await websocket.send_text(text * n)

    return app


async def status_of(url: str) -> int:
    with pytest.raises(InvalidStatus, match="rejected WebSocket connection") as caught:
        async with connect(url):
            pass
    return caught.value.response.status_code


async def test_the_seed_route_on_uvicorn() -> None:
    async with serve(lifecycle_app()) as base, connect(f"{base}/ws") as ws:
        assert await ws.recv() == "Hello"
        with pytest.raises(ConnectionClosed, match="1000"):
            await ws.recv()
        assert ws.close_code == 1000


async def test_lifecycle_codes_on_uvicorn() -> None:
    async with serve(lifecycle_app()) as base:
        assert await status_of(f"{base}/nowhere") == 403
        assert await status_of(f"{base}/crash-before") == 500
        assert await status_of(f"{base}/deny") == 401
        async with connect(f"{base}/returns") as ws:
            with pytest.raises(ConnectionClosed, match="1000"):
                await ws.recv()
        async with connect(f"{base}/crash-after") as ws:
            with pytest.raises(ConnectionClosed, match="1011"):
                await ws.recv()
            assert ws.close_code == 1011


async def test_path_parameters_and_subprotocols_on_uvicorn() -> None:
    async with (
        serve(lifecycle_app()) as base,
        connect(f"{base}/echo/3", subprotocols=[websockets.Subprotocol("chat")]) as ws,
    ):
        assert ws.subprotocol == "chat"
        await ws.send("ab")
        assert await ws.recv() == "ababab"
