"""yaat_testing.transports.base: a transport of your own, and how TestClient takes one."""

from __future__ import annotations

import pytest

from yaat.types import Receive, Scope, Send
from yaat_testing import (
    MemoryTransport,
    TestClient,
    Transport,
    WebSocketDenied,
    WebSocketRequest,
)
from yaat_testing.transports import Connection


async def hello(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "hello"})
        await receive()


class Refusing(Transport):
    """The smallest transport: one method, and the defaults for the rest."""

    def __init__(self) -> None:
        self.app = hello
        self.state = {}
        self.requests: list[WebSocketRequest] = []

    async def connect(self, request: WebSocketRequest, timeout: float) -> Connection:
        self.requests.append(request)
        raise WebSocketDenied(451, why="this transport refuses everything")


async def test_a_transport_of_ones_own_needs_only_connect() -> None:
    transport = Refusing()
    async with TestClient(transport=transport) as client:
        with pytest.raises(
            WebSocketDenied, match=r"HTTP 451 \(this transport refuses everything\)"
        ):
            async with client.websocket_connect("/ws?x=1", subprotocols=["chat"]):
                pass
        with pytest.raises(NotImplementedError, match="Refusing carries WebSockets only, not HTTP"):
            await client.get("/")
    assert transport.requests == [WebSocketRequest("ws://testserver/ws?x=1", [], ["chat"])]
    assert client.app is hello
    assert not client.live


async def test_the_client_takes_a_transport_serving_its_app() -> None:
    transport = MemoryTransport(hello, lifespan="off")
    async with TestClient(hello, transport=transport) as client:
        async with client.websocket_connect("/") as ws:
            assert await ws.receive_text() == "hello"
    with pytest.raises(ValueError, match="an app and a transport serving another app"):
        TestClient(Refusing.connect, transport=transport)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="TestClient needs an app, or a transport="):
        TestClient()


class FailingToStop(Refusing):
    async def aclose(self) -> None:
        raise RuntimeError("could not stop")


async def test_a_failure_to_stop_becomes_a_note_on_a_failing_test() -> None:
    with pytest.raises(KeyError) as caught:
        async with FailingToStop():
            raise KeyError("the test's own failure")
    assert caught.value.__notes__ == [  # type: ignore[attr-defined]
        "while stopping FailingToStop: RuntimeError('could not stop')"
    ]
    with pytest.raises(RuntimeError, match="could not stop"):
        async with FailingToStop():
            pass
