"""yaat_testing drives any ASGI app: Starlette here, with its own routing and lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket

from yaat.websockets import WebSocketDisconnect
from yaat_testing import TestClient, WebSocketDenied


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    yield {"motd": "welcome"}


async def echo(websocket: StarletteWebSocket) -> None:
    await websocket.accept(
        subprotocol="chat" if "chat" in websocket.scope["subprotocols"] else None
    )
    await websocket.send_text(websocket.state.motd)
    async for text in websocket.iter_text():
        if text == "bye":
            await websocket.close(code=4000, reason="asked")
            return
        await websocket.send_text(text.upper())


async def deny(websocket: StarletteWebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("go away", status_code=401))


async def health(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[WebSocketRoute("/ws", echo), WebSocketRoute("/deny", deny), Route("/health", health)],
    lifespan=lifespan,
)


async def test_starlette_echo_with_lifespan_state_and_subprotocol() -> None:
    async with (
        TestClient(app) as client,
        client.websocket_connect("/ws", subprotocols=["chat"]) as ws,
    ):
        assert ws.subprotocol == "chat"
        assert await ws.receive_text() == "welcome"
        await ws.send_text("hi")
        assert await ws.receive_text() == "HI"
        await ws.send_text("bye")
        with pytest.raises(WebSocketDisconnect, match="4000: asked"):
            await ws.receive_text()


async def test_starlette_denial_response_and_404_websocket() -> None:
    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 401") as caught:
            async with client.websocket_connect("/deny"):
                pass
        assert caught.value.text == "go away"
        with pytest.raises(WebSocketDenied, match="HTTP 403"):
            async with client.websocket_connect("/missing"):
                pass
        assert (await client.get("/health")).text == "ok"


class ClosingEndpoint(WebSocketEndpoint):
    """Closes in on_disconnect, as Starlette's own endpoint tests do."""

    encoding = "text"

    async def on_receive(self, websocket: StarletteWebSocket, data: str) -> None:
        await websocket.send_text(f"got {data}")

    async def on_disconnect(self, websocket: StarletteWebSocket, close_code: int) -> None:
        seen.append(close_code)
        await websocket.close()  # after the client's close: the server ignores it


seen: list[int] = []


async def test_a_close_after_the_clients_close_is_ignored_as_on_uvicorn() -> None:
    seen.clear()
    endpoint_app = Starlette(routes=[WebSocketRoute("/ws", ClosingEndpoint)])
    async with TestClient(endpoint_app) as client:
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "got hi"
    assert seen == [1000]
