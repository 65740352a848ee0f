"""yaat.uvicorn_protocol: uvicorn's websockets-sansio with every close bounded, served for
real by uvicorn in the test's loop, with clients that never read."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest
from uvicorn.protocols.utils import ClientDisconnected
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from conftest import serve
from tests.stuck_client import NeverReads
from yaat import Rooms, WebSocket, WebSocketDisconnect, Yaat
from yaat.types import Receive, Scope, Send
from yaat.uvicorn_protocol import BoundedWebSocketsProtocol

pytestmark = pytest.mark.live

FLUSH = 0.5  # a short bound keeps the tests fast


class Bounded(BoundedWebSocketsProtocol):
    close_flush_timeout = FLUSH


class Ended:
    """What each handler ended with, and when."""

    def __init__(self) -> None:
        self.outcomes: dict[str, str] = {}
        self.event = asyncio.Event()

    def record(self, name: str, outcome: str) -> None:
        self.outcomes[name] = outcome
        self.event.set()

    async def wait_for(self, name: str, timeout: float) -> str:
        async with asyncio.timeout(timeout):
            while name not in self.outcomes:
                self.event.clear()
                await self.event.wait()
        return self.outcomes[name]


def flooding_app(ended: Ended, close_after: float | None = None) -> Yaat:
    """Sends 1,000-character messages until the client is gone; another task closes the
    connection after *close_after* seconds, if given, while a send waits."""
    app = Yaat()

    @app.websocket_route("/ws/{name}")
    async def flood(websocket: WebSocket, name: str) -> None:
        await websocket.accept()

        async def close_later(delay: float) -> None:
            await asyncio.sleep(delay)
            await websocket.close(1013, "try again later")
            ended.record(f"{name} closed", f"after {delay:g} s")

        closer = None if close_after is None else asyncio.ensure_future(close_later(close_after))
        try:
            while True:
                await websocket.send_text("x" * 1000)
        except WebSocketDisconnect as gone:
            ended.record(name, f"gone {gone.code}")
            raise
        finally:
            if closer is not None:
                await closer

    return app


@pytest.fixture
def ended() -> Ended:
    return Ended()


async def test_a_keepalive_timeout_tells_the_app_and_drops_the_connection(ended: Ended) -> None:
    options = {"ws_ping_interval": 0.2, "ws_ping_timeout": 0.2}
    async with serve(flooding_app(ended), ws=Bounded, **options) as url:  # type: ignore[arg-type]
        stuck = await NeverReads.open(int(url.rsplit(":", 1)[1]), "/ws/stuck")
        try:
            started = time.monotonic()
            assert await ended.wait_for("stuck", timeout=5) in ("gone 1011", "gone 1006")
            took = time.monotonic() - started
        finally:
            stuck.close()
    assert took < 0.2 + 0.2 + FLUSH + 1.5


async def test_a_close_that_cannot_be_flushed_is_dropped(ended: Ended) -> None:
    # No keepalive: only the bound on the close's flush ends it.
    app = flooding_app(ended, close_after=0.5)
    async with serve(app, ws=Bounded, ws_ping_interval=None) as url:  # type: ignore[arg-type]
        stuck = await NeverReads.open(int(url.rsplit(":", 1)[1]), "/ws/stuck")
        try:
            # The close does not wait behind the send that waits: it is queued at once.
            assert await ended.wait_for("stuck closed", timeout=5) == "after 0.5 s"
            started = time.monotonic()
            # The send that waited learns the connection was dropped, within the bound.
            assert await ended.wait_for("stuck", timeout=FLUSH + 3) == "gone 1006"
            assert time.monotonic() - started < FLUSH + 1
        finally:
            stuck.close()


async def test_a_room_frees_a_member_that_never_reads(caplog: pytest.LogCaptureFixture) -> None:
    rooms = Rooms(queue_size=8)
    app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])
    left: list[str] = []

    @app.websocket_route("/ws/{name}")
    async def member(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        try:
            async with rooms.join("r", websocket):
                async for text in websocket.iter_text():
                    for _ in range(int(text)):
                        await rooms.publish_text("r", "y" * 2000)
                    await rooms.publish_text("r", "done")
        finally:
            left.append(name)

    async with serve(app, ws=Bounded, ws_ping_interval=None) as url:  # type: ignore[arg-type]
        port = int(url.rsplit(":", 1)[1])
        stuck = await NeverReads.open(port, "/ws/stuck")
        try:
            async with connect(f"{url}/ws/talker", max_queue=None) as talker:
                started = time.monotonic()
                while "stuck" not in left:
                    assert time.monotonic() - started < 30, "the member was never freed"
                    await talker.send("200")
                    while await talker.recv() != "done":
                        pass
                    await asyncio.sleep(0.05)
                assert rooms.count("r") == 1
        finally:
            stuck.close()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_sends_after_the_servers_own_close_raise_oserror() -> None:
    # A client that does not answer pings: the keepalive closes the connection, and the
    # app, which does not receive, goes on sending small messages the buffer still takes.
    # ASGI 2.4 says OSError; uvicorn's own protocol raises RuntimeError.
    outcomes: list[str] = []

    async def ticker(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        try:
            for tick in range(500):
                await send({"type": "websocket.send", "text": f"tick {tick}"})
                await asyncio.sleep(0.01)
        except Exception as error:
            outcomes.append(type(error).__name__)
            return
        outcomes.append("never told")

    options = {"ws_ping_interval": 0.2, "ws_ping_timeout": 0.2}
    async with serve(ticker, ws=Bounded, **options) as url:  # type: ignore[arg-type]
        stuck = await NeverReads.open(int(url.rsplit(":", 1)[1]), "/ws")
        try:
            for _ in range(200):  # bounded: 4 s
                if outcomes:
                    break
                await asyncio.sleep(0.02)
        finally:
            stuck.close()
    assert outcomes == ["ClientDisconnected"]
    assert issubclass(ClientDisconnected, OSError)


async def test_invalid_utf8_is_closed_with_1007_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = Yaat()

    @app.websocket_route("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    caplog.set_level(logging.INFO, "uvicorn.error")
    async with (
        serve(app, ws=Bounded, log_level="info", log_config=None) as url,  # type: ignore[arg-type]
        connect(f"{url}/ws") as ws,
    ):
        await ws.send("fine")
        assert await ws.recv() == "fine"
        await ws.send(b"\xff\xfe", text=True)
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1007
    assert "invalid UTF-8 in a text message: closed with 1007" in caplog.text
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


async def test_shutdown_does_not_wait_for_a_client_that_never_reads(ended: Ended) -> None:
    started = None
    async with serve(flooding_app(ended), ws=Bounded, ws_ping_interval=None) as url:  # type: ignore[arg-type]
        stuck = await NeverReads.open(int(url.rsplit(":", 1)[1]), "/ws/stuck")
        await asyncio.sleep(1)  # its buffers are full: the server's send waits
        started = time.monotonic()
    took = time.monotonic() - started
    stuck.close()
    assert took < FLUSH + 3, f"shutdown took {took:.1f} s"
    assert (await ended.wait_for("stuck", timeout=1)).startswith("gone ")


def test_plain_uvicorns_advice_names_the_class() -> None:
    from yaat.cli import BOUNDED_PROTOCOL

    module, name = BOUNDED_PROTOCOL.split(":")
    assert (module, name) == (BoundedWebSocketsProtocol.__module__, "BoundedWebSocketsProtocol")
