"""yaat_testing.live: the session API over real sockets, against uvicorn (always live here)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from yaat import Request, TextResponse, Yaat
from yaat.types import Receive, Scope, Send
from yaat.websockets import WebSocket, WebSocketDisconnect
from yaat_testing import LifespanFailed, TestClient, WebSocketDenied, WebSocketTimeout

pytestmark = pytest.mark.live


class Boom(Exception):
    pass


def build_app() -> Yaat:
    app = Yaat()

    @app.websocket_route("/ws/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept(
            subprotocol="chat" if "chat" in websocket.subprotocols else None,
            headers=[(b"x-room", room.encode())],
        )
        await websocket.send_json(
            {"url": str(websocket.url), "token": websocket.headers.get("x-token")}
        )
        async for text in websocket.iter_text():
            if text == "crash":
                raise Boom("asked to crash")
            if text == "close":
                await websocket.close(4000, "asked")
                return
            await websocket.send_bytes(text.encode())

    @app.websocket_route("/deny")
    async def deny(websocket: WebSocket) -> None:
        await websocket.deny(401, "log in first", headers={"www-authenticate": "Bearer"})

    @app.websocket_route("/early-crash")
    async def early_crash(websocket: WebSocket) -> None:
        raise Boom("before accept")

    @app.route("/health")
    async def health(request: Request) -> TextResponse:
        return TextResponse(f"ok {request.url}")

    @app.route("/boom")
    async def boom(request: Request) -> TextResponse:
        raise Boom("http")

    return app


async def test_a_live_session_sees_the_real_handshake_messages_and_close() -> None:
    async with TestClient(build_app(), live=True) as client:
        async with client.websocket_connect(
            "/ws/blue", subprotocols=["chat"], headers={"x-token": "t"}
        ) as ws:
            assert ws.subprotocol == "chat"
            assert ws.accept_headers.raw == [(b"x-room", b"blue")]
            assert await ws.receive_json() == {"url": "ws://testserver/ws/blue", "token": "t"}
            await ws.send_text("hi")
            assert await ws.receive_bytes() == b"hi"
            await ws.send_text("close")
            assert await ws.receive_close() == (4000, "asked")
            with pytest.raises(WebSocketDisconnect, match="4000"):
                await ws.send_text("too late")
        assert "app→client  websocket.send bytes=b'hi'" in str(ws.transcript)


async def test_live_denials_carry_status_headers_and_body() -> None:
    async with TestClient(build_app(), live=True) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 401") as caught:
            async with client.websocket_connect("/deny"):
                pass
        assert (caught.value.text, caught.value.headers["www-authenticate"]) == (
            "log in first",
            "Bearer",
        )
        with pytest.raises(
            WebSocketDenied,
            match=r"HTTP 403 \(the app closed with 1000 before accepting; a real server answers HTTP 403",
        ):
            async with client.websocket_connect("/nowhere"):
                pass


async def test_live_app_exceptions_keep_their_type() -> None:
    async with TestClient(build_app(), live=True) as client:
        with pytest.raises(Boom, match="before accept"):
            async with client.websocket_connect("/early-crash"):
                pass
        with pytest.raises(Boom, match="asked to crash"):
            async with client.websocket_connect("/ws/a") as ws:
                await ws.receive_json()
                await ws.send_text("crash")
                await ws.receive_bytes()
        with pytest.raises(Boom, match="http"):
            await client.get("/boom")


async def test_live_without_raising_shows_what_the_client_sees() -> None:
    async with TestClient(build_app(), live=True, raise_app_exceptions=False) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 500"):
            async with client.websocket_connect("/early-crash"):
                pass
        async with client.websocket_connect("/ws/a") as ws:
            await ws.receive_json()
            await ws.send_text("crash")
            assert await ws.receive_close() == (1011, "")
        assert (await client.get("/boom")).status_code == 500
        assert (await client.get("/health")).text == "ok http://testserver/health"


async def test_live_timeouts_leave_the_session_usable() -> None:
    async with (
        TestClient(build_app(), live=True) as client,
        client.websocket_connect("/ws/a") as ws,
    ):
        await ws.receive_json()
        with pytest.raises(WebSocketTimeout, match="waiting for a message from the app"):
            await ws.receive_text(timeout=0.02)
        await ws.assert_nothing_received(within=0.01)
        await ws.send_text("again")
        assert await ws.receive_bytes() == b"again"


async def test_a_raw_app_that_returns_after_accept_is_1006_live() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})

    async with TestClient(app, live=True) as client, client.websocket_connect("/") as ws:
        assert await ws.receive_close() == (1006, "")


async def test_live_startup_failure_and_state() -> None:
    def explode() -> None:
        raise Boom("no database")

    with pytest.raises(LifespanFailed, match=r"(?s)lifespan startup failed: .*Boom: no database"):
        async with TestClient(Yaat(on_startup=[explode]), live=True):
            pass

    async def stuck(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(3600)

    with pytest.raises(WebSocketTimeout, match=r"lifespan\.startup\.complete"):
        async with TestClient(stuck, live=True, timeout=0.1):
            pass


async def test_live_shutdown_failure_is_raised() -> None:
    def explode() -> None:
        raise Boom("flush failed")

    with pytest.raises(LifespanFailed, match=r"(?s)lifespan shutdown failed: .*flush failed"):
        async with TestClient(Yaat(on_shutdown=[explode]), live=True):
            pass


async def test_live_mode_refuses_wss() -> None:
    async with TestClient(build_app(), base_url="wss://secure.test", live=True) as client:
        with pytest.raises(ValueError, match=r"live mode serves plain ws:// only"):
            async with client.websocket_connect("/ws/a"):
                pass


async def test_an_unoffered_subprotocol_fails_the_live_handshake() -> None:
    from yaat_testing import ASGIProtocolError

    async def app(scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept", "subprotocol": "mqtt"})
            await receive()

    async with TestClient(app, live=True) as client:  # strict: the validator runs live
        with pytest.raises(
            ASGIProtocolError,
            match=r"\[subprotocol-not-offered\] websocket.accept chose subprotocol 'mqtt'",
        ):
            async with client.websocket_connect("/", subprotocols=["chat"]):
                pass
    async with TestClient(app, live=True, strict=False) as client:  # uvicorn is the judge
        with pytest.raises(ASGIProtocolError, match="the client failed the handshake"):
            async with client.websocket_connect("/", subprotocols=["chat"]):
                pass


async def test_live_mode_reports_asgi_violations_with_the_same_rules() -> None:
    from yaat_testing import ASGIProtocolError

    async def app(scope: Scope, receive: Receive, send: Send) -> Any:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": "a", "bytes": b"b"})
            await receive()

    async with TestClient(app, live=True) as client:
        with pytest.raises(ASGIProtocolError, match=r"\[text-and-bytes\]"):
            async with client.websocket_connect("/") as ws:
                await ws.receive()
    async with TestClient(app, live=True, strict=False) as client:  # uvicorn sends the bytes
        async with client.websocket_connect("/") as ws:
            assert await ws.receive_bytes() == b"b"
