"""A client that stops reading: ``pause_reading()`` / ``resume_reading()``.

In memory, the app's ``send()`` waits once the paused client's buffer is full, as each
server's does; with ``--yaat-live`` the same tests pause the real socket, and each server
shows what its profile says.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from yaat.types import Message, Receive, Scope, Send
from yaat_testing import TestClient
from yaat_testing.profiles import PROFILES

MESSAGE = "x" * 1000
# More than any server here buffers for one client (about 4 MB), for live runs.
MOST = 6_000
# Enough to show a server that buffers without bound (daphne): the client must read them
# all within the 1 s autobahn gives it to answer the app's close (closeHandshakeTimeout),
# or daphne drops the connection with what it had not sent; 6 MB did not always make it
# on a loaded machine.
FOR_UNBOUNDED = 1_000
BUFFER = 20_000  # in memory: 20 messages fill the buffer


class Flooder:
    """An ASGI app that sends until a send waits 0.5 s, then closes with 4000.

    It runs in the server's own thread on some servers: what it saw is kept here, and
    ``done`` is a threading event.
    """

    def __init__(self, most: int = MOST) -> None:
        self.most = most
        self.sent = 0
        self.waited = False
        self.close_returned: bool | None = None
        self.done = threading.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        await receive()
        await send({"type": "websocket.accept"})
        await receive()  # the test's "go", once it has paused reading
        try:
            while self.sent < self.most:
                try:
                    await asyncio.wait_for(send(_text(MESSAGE)), 0.5)
                except TimeoutError:
                    self.waited = True
                    break
                self.sent += 1
            try:
                await asyncio.wait_for(
                    send({"type": "websocket.close", "code": 4000, "reason": "done"}), 0.5
                )
                self.close_returned = True
            except TimeoutError:
                self.close_returned = False
        finally:
            self.done.set()


def _text(data: str) -> Message:
    return {"type": "websocket.send", "text": data}


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        else:
            await send({"type": "lifespan.shutdown.complete"})
            return


async def wait_for_event(event: threading.Event, timeout: float = 20.0) -> None:
    for _ in range(int(timeout / 0.01)):
        if event.is_set():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"the app did not finish within {timeout:g}s")


@pytest.mark.yaat_servers("uvicorn", "uvicorn-wsproto", "hypercorn", "granian", "daphne")
async def test_a_send_waits_once_a_paused_client_buffer_is_full(yaat_server: str) -> None:
    profile = PROFILES[yaat_server]
    app = Flooder(MOST if profile.send_buffer is not None else FOR_UNBOUNDED)
    async with TestClient(app) as client, client.websocket_connect("/") as ws:
        ws.pause_reading(buffer=BUFFER)
        await ws.send_text("go")
        await wait_for_event(app.done)
        ws.resume_reading()
        received = 0
        while (message := await ws.receive())["type"] == "websocket.send":
            received += 1
        close = (message["code"], message["reason"])

    if profile.send_buffer is None:  # daphne: Twisted buffers without bound
        assert (app.waited, app.sent, app.close_returned) == (False, FOR_UNBOUNDED, True)
        assert received == FOR_UNBOUNDED
        assert close == (4000, "")  # daphne sends no reasons
    elif profile.writes_before_waiting:  # hypercorn: the waiting send was written
        assert (app.waited, app.close_returned) == (True, False)
        assert received == app.sent + 1
        assert close == (4000, "done")
    else:  # uvicorn, granian: a send waits before writing, and the cancelled one is lost
        assert (app.waited, app.close_returned) == (True, False)
        assert received == app.sent
        assert close[0] == 1006  # the close frame never left: the server aborts
    if client.live:
        # The real buffers: a few MB here, as the profile's estimate says.
        assert profile.send_buffer is None or app.sent * len(MESSAGE) > profile.send_buffer // 4


@pytest.mark.yaat_memory_only("the sizes are the in-memory buffer's; live, the OS decides")
async def test_what_was_sent_before_the_pause_counts_toward_the_buffer() -> None:
    sent: list[int] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        for i in range(3):
            await send(_text(f"{i}" * 10))
        await receive()
        await send(_text("after"))
        sent.append(3)

    async with TestClient(app, lifespan="off") as client:
        async with client.websocket_connect("/") as ws:
            await asyncio.sleep(0.01)  # the app sends its three, unread
            ws.pause_reading(buffer=30)
            await ws.send_text("go")
            await asyncio.sleep(0.01)
            assert sent == []  # "after" waits: 30 bytes wait already
            ws.resume_reading()
            expected = ["0" * 10, "1" * 10, "2" * 10, "after"]
            assert [await ws.receive_text() for _ in range(4)] == expected
            assert sent == [3]


@pytest.mark.yaat_memory_only("the sizes are the in-memory buffer's; live, the OS decides")
async def test_a_closing_client_wakes_a_waiting_send() -> None:
    outcome: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        await send(_text("fills the buffer"))
        try:
            await send(_text("waits"))
            outcome.append("returned")
        except OSError as error:
            outcome.append(type(error).__name__)

    async with TestClient(app, lifespan="off") as client:
        ws = await client.websocket_connect("/").__aenter__()
        ws.pause_reading(buffer=1)
        await ws.send_text("go")
        await asyncio.sleep(0.01)
        assert outcome == []
        await ws.close()
    assert outcome == ["ClientDisconnected"]  # uvicorn raises once the client has gone


async def test_receiving_while_paused_is_refused_with_the_fix() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()

    async with TestClient(app, lifespan="off") as client:
        async with client.websocket_connect("/") as ws:
            ws.pause_reading()
            assert ws.reading_paused
            with pytest.raises(RuntimeError, match=r"call resume_reading\(\) before receiving"):
                await ws.receive_text()
            ws.resume_reading()
            assert not ws.reading_paused
            with pytest.raises(ValueError, match="takes a byte count >= 0, got -1"):
                ws.pause_reading(buffer=-1)


def test_the_blocking_api_pauses_and_resumes() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        await receive()
        for i in range(5):
            await send(_text(str(i)))  # the second waits while reading is paused

    with TestClient(app, lifespan="off") as client, client.websocket_connect("/") as ws:
        ws.pause_reading(buffer=1)
        assert ws.reading_paused
        ws.send_text("go")
        with pytest.raises(RuntimeError, match="while reading is paused"):
            ws.receive_text()
        ws.resume_reading()
        assert [ws.receive_text() for _ in range(5)] == ["0", "1", "2", "3", "4"]
