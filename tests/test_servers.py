"""yaat_testing.servers: live mode on every server, with the same session API."""

from __future__ import annotations

import pytest

from yaat import Yaat
from yaat.types import Receive, Scope, Send
from yaat.websockets import WebSocket
from yaat_testing import ASGIProtocolError, TestClient, WebSocketDenied
from yaat_testing.servers import SERVERS

pytestmark = [pytest.mark.live, pytest.mark.yaat_memory_only("picks each live server itself")]


class Boom(Exception):
    pass


def build_app() -> Yaat:
    app = Yaat()

    @app.websocket_route("/echo/{room}")
    async def echo(websocket: WebSocket, room: str) -> None:
        await websocket.accept(subprotocol="chat" if "chat" in websocket.subprotocols else None)
        await websocket.send_text(f"room {room}")
        async for text in websocket.iter_text():
            if text == "boom":
                raise Boom("asked to")
            await websocket.send_json({"echo": text})

    async def early(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "too early"})

    app.mount("/early", early)
    return app


@pytest.mark.parametrize("server", sorted(SERVERS))
async def test_every_server_serves_the_same_session_api(server: str) -> None:
    async with TestClient(build_app(), live=True, server=server) as client:
        assert client.live
        assert client.server == server
        async with client.websocket_connect("/echo/a%20b", subprotocols=["chat"]) as ws:
            assert ws.subprotocol == "chat"
            assert await ws.receive_text() == "room a b"
            await ws.send_text("hi")
            assert await ws.receive_json() == {"echo": "hi"}
        with pytest.raises(Boom, match="asked to"):  # the app's own exception, live
            async with client.websocket_connect("/echo/x") as ws:
                await ws.receive_text()
                await ws.send_text("boom")
                await ws.receive_text()
        with pytest.raises(ASGIProtocolError, match=r"\[send-before-accept\]"):
            async with client.websocket_connect("/early"):
                pass
        with pytest.raises(WebSocketDenied, match="HTTP 403"):
            async with client.websocket_connect("/nowhere"):
                pass


async def test_daphne_shares_one_reactor_and_each_server_stops_listening() -> None:
    import asyncio

    ports = []
    for _ in range(2):
        async with TestClient(build_app(), live=True, server="daphne") as client:
            async with client.websocket_connect("/echo/a") as ws:
                assert await ws.receive_text() == "room a"
            ports.append(client.transport.port)  # type: ignore[attr-defined]
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection("127.0.0.1", port)


async def test_daphne_stops_listening_before_stop_returns_even_on_a_busy_reactor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Twisted closes a listening socket on the reactor's next turn; a stop() that returns
    # before that turn lets a connection in (the kernel accepts it from the backlog): the
    # "DID NOT RAISE ConnectionRefusedError" once seen in a fresh clone.  A turn made
    # slow here makes that window certain.
    import asyncio
    import time

    from yaat_testing.servers import daphne

    stop_in_reactor = daphne.DaphneServer._stop_in_reactor

    def busy_then_stop(server: object, port: object) -> object:
        daphne.running_reactor().callLater(0, time.sleep, 0.3)
        return stop_in_reactor(server, port)

    monkeypatch.setattr(daphne.DaphneServer, "_stop_in_reactor", staticmethod(busy_then_stop))
    async with TestClient(build_app(), live=True, server="daphne") as client:
        port = client.transport.port  # type: ignore[attr-defined]
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)


async def test_unknown_servers_are_refused_with_the_list() -> None:
    with pytest.raises(
        ValueError, match=r"unknown server 'nginx'; the servers are: daphne, granian"
    ):
        TestClient(build_app(), server="nginx")


async def test_granian_cannot_shut_down_live_and_says_why() -> None:
    async with TestClient(build_app(), live=True, server="granian") as client:
        with pytest.raises(
            NotImplementedError, match="granian's embedded server keeps connections"
        ):
            await client.shutdown()
