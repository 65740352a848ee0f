"""An independent second client: async-asgi-testclient drives the same yaat app."""

from __future__ import annotations

from async_asgi_testclient import TestClient as OtherClient

from yaat import Request, TextResponse, Yaat
from yaat.websockets import WebSocket


def build_app() -> Yaat:
    app = Yaat()

    @app.websocket_route("/ws/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.send_json({"room": room, "q": websocket.query_params.get("q")})
        async for text in websocket.iter_text():
            await websocket.send_text(f"{room}: {text}")

    @app.route("/health")
    async def health(request: Request) -> TextResponse:
        return TextResponse("ok")

    return app


async def test_yaat_through_async_asgi_testclient() -> None:
    async with OtherClient(build_app()) as client:
        assert (await client.get("/health")).text == "ok"
        async with client.websocket_connect("/ws/blue?q=1") as ws:
            assert await ws.receive_json() == {"room": "blue", "q": "1"}
            await ws.send_text("hi")
            assert await ws.receive_text() == "blue: hi"
