"""Every example of the seed document, one test per section, through yaat_testing."""

from __future__ import annotations

import pytest

from yaat import Yaat
from yaat.constants import WebSocketCloseEvent as WsClose
from yaat.routing import Router
from yaat.websockets import WebSocket, WebSocketDisconnect
from yaat_testing import TestClient, WebSocketDenied


async def test_websocket_connection_data_url_headers_query_params() -> None:
    """Seed, "WebSocket": url, headers and query_params, like Request's."""
    app = Yaat()
    seen: dict[str, object] = {}

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        seen["url"] = str(websocket.url)
        seen["path"] = websocket.url.path
        seen["header"] = websocket.headers["Authorization"]
        seen["query"] = websocket.query_params["name"]
        await websocket.accept()
        await websocket.close()

    async with (
        TestClient(app) as client,
        client.websocket_connect("/ws?name=ada", headers={"Authorization": "t"}) as ws,
    ):
        assert (await ws.receive_close()).code == 1000
    assert seen == {
        "url": "ws://testserver/ws?name=ada",
        "path": "/ws",
        "header": "t",
        "query": "ada",
    }


async def test_accept_connection() -> None:
    """Seed, "Accept Connection": await websocket.accept(subprotocol=None)."""
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol=None)
        await websocket.send_text("accepted")

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert ws.subprotocol is None
        assert await ws.receive_text() == "accepted"


async def test_sending_data() -> None:
    """Seed, "Sending Data": send_text, send_bytes, send_json in text and bytes modes."""
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("data")
        await websocket.send_bytes(b"data")
        await websocket.send_json({"data": 1})
        await websocket.send_json({"data": 2}, mode="text")
        await websocket.send_json({"data": 3}, mode="bytes")

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "data"
        assert await ws.receive_bytes() == b"data"
        assert await ws.receive_json() == {"data": 1}
        assert await ws.receive_json(mode="text") == {"data": 2}
        assert await ws.receive_json(mode="bytes") == {"data": 3}


async def test_receiving_data() -> None:
    """Seed, "Receiving Data": receive_text, receive_bytes, receive_json in both modes."""
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        data = await websocket.receive_bytes()
        first = await websocket.receive_json()
        second = await websocket.receive_json(mode="bytes")
        await websocket.send_json([text, data.hex(), first, second])

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        await ws.send_text("t")
        await ws.send_bytes(b"\x01")
        await ws.send_json({"a": 1})
        await ws.send_json({"b": 2}, mode="bytes")
        assert await ws.receive_json() == ["t", "01", {"a": 1}, {"b": 2}]


async def test_sending_raw_messages() -> None:
    """Seed, "Sending Raw Messages": await websocket.send(message)."""
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send({"type": "websocket.send", "text": "raw"})

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert await ws.receive() == {"type": "websocket.send", "text": "raw"}


async def test_receiving_raw_messages() -> None:
    """Seed, "Receiving Raw Messages": await websocket.receive()."""
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        connect = await websocket.receive()
        await websocket.accept()
        message = await websocket.receive()
        await websocket.send_json([connect["type"], message["type"], message["text"]])

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        await ws.send_text("hi")
        assert await ws.receive_json() == ["websocket.connect", "websocket.receive", "hi"]


async def test_close_connection() -> None:
    """Seed, "Close Connection": await websocket.close(code=1000)."""
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(code=1000)

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        with pytest.raises(WebSocketDisconnect, match="code 1000") as caught:
            await ws.receive_text()
        assert caught.value.code == WsClose.NORMAL_CLOSURE
        assert ws.close_code == 1000


async def test_close_connection_with_a_constant() -> None:
    """Seed, "Close Connection": close(WsClose.ABNORMAL_CLOSURE) from yaat.constants.

    1006 is for reading only (RFC 6455 §7.4.1): yaat refuses to send it with a clear
    ValueError instead of letting the server drop the connection.  A sendable
    constant such as POLICY_VIOLATION works as the seed intends.
    """
    app = Yaat()
    errors: list[str] = []

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.close(WsClose.ABNORMAL_CLOSURE)
        except ValueError as exc:
            errors.append(str(exc))
        await websocket.close(WsClose.POLICY_VIOLATION)

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        close = await ws.receive_close()
    assert close.code == WsClose.POLICY_VIOLATION
    assert errors == [
        "close(<WebSocketCloseEvent.ABNORMAL_CLOSURE: 1006>, ''): close code 1006 is reserved for "
        "reading (RFC 6455 §7.4.1): send 1000-1003, 1007-1014 or 3000-4999"
    ]


def test_websocket_close_event_constants() -> None:
    """Seed, "class WebSocketCloseEvent": every code, usable as an int."""
    assert {e.name: int(e) for e in WsClose} == {
        "NORMAL_CLOSURE": 1000,
        "GOING_AWAY": 1001,
        "PROTOCOL_ERROR": 1002,
        "UNSUPPORTED_DATA": 1003,
        "NO_STATUS_RECEIVED": 1005,
        "ABNORMAL_CLOSURE": 1006,
        "INVALID_FRAME_PAYLOAD_DATA": 1007,
        "POLICY_VIOLATION": 1008,
        "MESSAGE_TOO_BIG": 1009,
        "MISSING_EXTENSION": 1010,
        "INTERNAL_ERROR": 1011,
        "SERVICE_RESTART": 1012,
        "TRY_AGAIN_LATER": 1013,
        "BAD_GATEWAY": 1014,
        "TLS_HANDSHAKE": 1015,
    }
    assert WsClose.GOING_AWAY + 1 == 1002


async def test_websocket_route_decorator() -> None:
    """Seed, "WebSocket Route": @app.websocket_route("/ws")."""
    app = Yaat()

    @app.websocket_route("/ws")
    async def ws_handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("Hello")
        await websocket.close()

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "Hello"
        assert await ws.receive_close() == (1000, "")


async def test_add_websocket_route() -> None:
    """Seed, "add_websocket_route(path, handler)"."""
    app = Yaat()

    async def ws_handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("Hello")
        await websocket.close()

    app.add_websocket_route("/ws", ws_handler)
    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "Hello"
        assert await ws.receive_close() == (1000, "")


def test_add_websocket_route_without_a_path_as_the_seed_writes_it() -> None:
    """Seed, "app.add_websocket_route(ws_handler)": the path is missing; say so clearly."""
    app = Yaat()

    async def ws_handler(websocket: WebSocket) -> None:
        await websocket.accept()

    with pytest.raises(
        TypeError,
        match=r"add_websocket_route\(path, handler\) takes the path first, then the handler: app.add_websocket_route\('/ws', ws_handler\)",
    ):
        app.add_websocket_route(ws_handler)  # type: ignore[call-arg, arg-type]


async def test_mounting_websocket_routes() -> None:
    """Seed, "Mounting WebSocket Routes": app.mount(prefix="ws", router=..., websocket=True)."""
    WebSocketRouter = Router()

    @WebSocketRouter.route("/chat")
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"chat at {websocket.scope['root_path']}")

    app = Yaat()
    app.mount(prefix="ws", router=WebSocketRouter, websocket=True)

    async with TestClient(app) as client:
        async with client.websocket_connect("/ws/chat") as ws:
            assert await ws.receive_text() == "chat at /ws"
        with pytest.raises(WebSocketDenied, match="HTTP 403"):
            async with client.websocket_connect("/chat"):
                pass
        assert (await client.get("/ws/chat")).status_code == 404
