"""yaat.rooms: fan-out, membership, members that do not read, members that leave.

Every test runs in memory, and on real uvicorn with ``--yaat-live``: a slow member is
played with ``pause_reading()``, which pauses the real socket live.
"""

from __future__ import annotations

import asyncio
import logging

import pytest

from tests.room_members import joined, room_app, until
from yaat import MemoryPubSub, Rooms, WebSocket, WebSocketStateError, Yaat
from yaat.pubsub import Payload
from yaat.rooms import EVICTION, STALLED, Suspended
from yaat.types import Message, Receive, Scope, Send
from yaat_testing import TestClient, WebSocketSession
from yaat_testing.profiles import PROFILES

# Enough 1,000-character messages to fill a real server's buffers (about 4 MB) and then a
# member's queue; in memory a small buffer makes the same test fast.
FLOOD = 4_400
QUEUE = 64
BUFFER = 20_000


async def numbered(ws: WebSocketSession, count: int) -> list[int | str]:
    """The numbers of the next *count* messages ("flooded" as it is)."""
    texts = [await ws.receive_text() for _ in range(count)]
    return [text if text == "flooded" else int(text[:4]) for text in texts]


async def rest_until_close(ws: WebSocketSession) -> tuple[int, tuple[int, str]]:
    """Read everything left: how many data messages, then the close."""
    count = 0
    while True:
        message = await ws.receive()
        if message["type"] == "websocket.close":
            return count, (message["code"], message["reason"])
        count += 1


async def ends_as_the_server_does(
    client: TestClient, slow: WebSocketSession, rooms: Rooms, members: int
) -> None:
    """What a member that stopped reading sees once it reads again, on this server."""
    profile = PROFILES[client.server]
    if profile.send_buffer is None:
        # daphne never makes a send wait: nobody falls behind, and the member stays.
        assert rooms.count("r") == members
        slow.resume_reading()
        assert await numbered(slow, 1) == [0]
        return
    await until(lambda: rooms.count("r") == members - 1)
    slow.resume_reading()
    count, close = await rest_until_close(slow)
    assert close == EVICTION == (1013, "try again later")
    # What the server had buffered before the member fell behind, and no more.
    assert 0 < count < FLOOD


# -- fan-out ---------------------------------------------------------------------------


async def test_a_publish_reaches_every_member_and_only_them() -> None:
    rooms = Rooms()
    async with TestClient(room_app(rooms)) as client:
        a, b = await joined(client, "/ws/blue"), await joined(client, "/ws/blue")
        other = await joined(client, "/ws/green")
        await a.send_text("hello blue")
        assert await a.receive_text() == "hello blue"
        assert await b.receive_text() == "hello blue"
        await other.assert_nothing_received(within=0.05)
        assert (rooms.count("blue"), rooms.count("green")) == (2, 1)
        for ws in (a, b, other):
            await ws.close()
        await until(lambda: rooms.count("blue") == rooms.count("green") == 0)


async def test_text_bytes_and_json_are_sent_as_such() -> None:
    rooms = Rooms()
    app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])

    @app.websocket_route("/ws")
    async def member(websocket: WebSocket) -> None:
        await websocket.accept()
        async with rooms.join("r", websocket):
            await websocket.receive_text()
            await rooms.publish_text("r", "text")
            await rooms.publish_bytes("r", bytearray(b"\x00bytes"))
            await rooms.publish_json("r", {"a": [1, "é"]})
            await rooms.publish_json("r", {"a": 1}, mode="bytes")
            await websocket.receive_text()

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        await ws.send_text("go")
        assert await ws.receive_text() == "text"
        assert await ws.receive_bytes() == b"\x00bytes"
        assert await ws.receive_text() == '{"a":[1,"é"]}'
        assert await ws.receive_bytes() == b'{"a":1}'


class CountingPubSub(MemoryPubSub):
    """The in-memory backend, counting what is published through it."""

    def __init__(self) -> None:
        self.published: list[Payload] = []

    async def publish(self, room: str, payload: Payload) -> None:
        self.published.append(payload)
        await super().publish(room, payload)


async def test_a_message_is_encoded_once_per_publish() -> None:
    pubsub = CountingPubSub()
    rooms = Rooms(pubsub)
    app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])

    @app.websocket_route("/ws")
    async def member(websocket: WebSocket) -> None:
        await websocket.accept()
        async with rooms.join("r", websocket):
            await websocket.send_text("joined")
            async for text in websocket.iter_text():
                await rooms.publish_json("r", {"n": int(text)})

    async with TestClient(app) as client:
        members = [await joined(client, "/ws") for _ in range(5)]
        await members[0].send_text("1")
        for ws in members:
            assert await ws.receive_json() == {"n": 1}
            await ws.close()
    assert pubsub.published == ['{"n":1}']


async def test_order_per_publisher_is_kept() -> None:
    rooms = Rooms()
    async with TestClient(room_app(rooms)) as client:
        a, b = await joined(client, "/ws/r"), await joined(client, "/ws/r")
        await a.send_text("flood 300")
        for ws in (b, a):
            assert await numbered(ws, 300) == list(range(300))
            assert await ws.receive_text() == "flooded"
            await ws.close()


# -- members that do not read ----------------------------------------------------------


async def test_a_member_that_does_not_read_delays_nobody_and_is_closed_with_1013() -> None:
    rooms = Rooms(queue_size=QUEUE)
    async with TestClient(room_app(rooms)) as client:
        slow = await joined(client, "/ws/r")
        healthy = [await joined(client, "/ws/r") for _ in range(2)]
        slow.pause_reading(buffer=BUFFER)
        await healthy[0].send_text(f"flood {FLOOD}")
        # Read by both at once: a member that is not read is a slow member too.
        received = await asyncio.gather(*(numbered(ws, FLOOD + 1) for ws in healthy))
        assert received == [[*range(FLOOD), "flooded"]] * 2  # the publisher never waited
        # Its socket has been stalled for longer than STALLED: the next messages over its
        # queue's size remove it.
        await asyncio.sleep(STALLED * 2)
        await healthy[0].send_text(f"flood {QUEUE + 1}")
        received = await asyncio.gather(*(numbered(ws, QUEUE + 2) for ws in healthy))
        assert received == [[*range(QUEUE + 1), "flooded"]] * 2

        await ends_as_the_server_does(client, slow, rooms, members=3)
        for ws in [*healthy, slow]:
            await ws.close()


async def test_a_send_that_waits_too_long_evicts_the_member() -> None:
    rooms = Rooms(queue_size=100_000, send_timeout=0.3)
    async with TestClient(room_app(rooms)) as client:
        slow, healthy = await joined(client, "/ws/r"), await joined(client, "/ws/r")
        slow.pause_reading(buffer=BUFFER)
        await healthy.send_text(f"flood {FLOOD}")
        assert await numbered(healthy, FLOOD) == list(range(FLOOD))
        await asyncio.sleep(rooms.send_timeout * 1.25 + 0.1)
        await ends_as_the_server_does(client, slow, rooms, members=2)
        await healthy.close()
        await slow.close()


async def ten_waiting(client: TestClient) -> tuple[WebSocketSession, WebSocketSession]:
    """A member that stopped reading, with ten messages for it, and their publisher.

    In memory the third send waits and the next ones queue behind it; live, the OS
    buffers all ten.
    """
    member, publisher = await joined(client, "/ws/r"), await joined(client, "/ws/r")
    member.pause_reading(buffer=2_000)
    await publisher.send_text("flood 10")
    assert await numbered(publisher, 11) == [*range(10), "flooded"]
    return member, publisher


async def test_a_member_that_reads_again_in_time_gets_everything_in_order() -> None:
    rooms = Rooms(queue_size=QUEUE)
    async with TestClient(room_app(rooms)) as client:
        member, publisher = await ten_waiting(client)
        member.resume_reading()
        assert await numbered(member, 11) == [*range(10), "flooded"]
        assert rooms.count("r") == 2
        await member.close()
        await publisher.close()


async def test_leaving_while_a_send_waits_cancels_it() -> None:
    rooms = Rooms(queue_size=QUEUE)
    async with TestClient(room_app(rooms)) as client:
        member, publisher = await ten_waiting(client)
        await member.drop()  # its handler leaves the room, with its sends waiting
        await until(lambda: rooms.count("r") == 1)
        await publisher.send_text("still here")
        assert await publisher.receive_text() == "still here"
        await publisher.close()


@pytest.mark.yaat_memory_only("the failing send is the in-memory server's")
async def test_a_send_that_fails_unexpectedly_is_logged_and_the_member_removed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rooms = Rooms()
    inner = room_app(rooms)
    failing: set[int] = set()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def breaks(message: Message) -> None:
            if id(scope) in failing and message.get("text") == "boom":
                raise RuntimeError("the server broke")
            await send(message)

        if scope["type"] == "websocket" and scope["query_string"] == b"fails":
            failing.add(id(scope))
        await inner(scope, receive, breaks)

    async with TestClient(app) as client:
        fails, other = await joined(client, "/ws/r?fails"), await joined(client, "/ws/r")
        await other.send_text("boom")
        assert await other.receive_text() == "boom"
        await until(lambda: rooms.count("r") == 1)
        await other.send_text("after")
        assert await other.receive_text() == "after"
        await fails.close()
        await other.close()
    [record] = [r for r in caplog.records if r.name == "yaat.rooms"]
    assert record.getMessage() == "room 'r': a send failed; member removed"
    assert "the server broke" in str(record.exc_info[1] if record.exc_info else "")


# -- members that leave ----------------------------------------------------------------


async def test_members_that_drop_are_removed_without_a_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rooms = Rooms()
    async with TestClient(room_app(rooms)) as client:
        stays = await joined(client, "/ws/r")
        leaving = [await joined(client, "/ws/r") for _ in range(200)]
        for ws in leaving:
            await ws.drop()
        await stays.send_text("still here")
        assert await stays.receive_text() == "still here"
        await until(lambda: rooms.count("r") == 1)
        await stays.close()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


async def test_a_thousand_members_leaving_at_once_while_the_room_is_busy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rooms = Rooms()
    async with TestClient(room_app(rooms)) as client:
        stays = await joined(client, "/ws/r")
        leaving = [await joined(client, "/ws/r") for _ in range(1000)]
        await stays.send_text("flood 20")
        await asyncio.gather(*(ws.drop() for ws in leaving))  # all at once
        assert await numbered(stays, 20) == list(range(20))
        assert await stays.receive_text() == "flooded"
        await until(lambda: rooms.count("r") == 1)
        await stays.close()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


# -- lifespan and misuse ---------------------------------------------------------------


@pytest.mark.yaat_memory_only("it looks at the tasks of the test's loop, where the app runs")
async def test_disconnect_stops_every_task() -> None:
    rooms = Rooms()
    before = asyncio.all_tasks()
    async with TestClient(room_app(rooms), server="uvicorn") as client:  # with a lifespan
        members = [await joined(client, "/ws/r") for _ in range(3)]
        await members[0].send_text("hi")
        for ws in members:
            await ws.receive_text()
            await ws.close()
    assert not rooms.connected
    await asyncio.sleep(0)
    assert {t for t in asyncio.all_tasks() - before if not t.done()} <= {asyncio.current_task()}


@pytest.mark.yaat_memory_only("it disconnects the rooms from the test's loop, where the app runs")
async def test_the_in_memory_backend_needs_no_lifespan() -> None:
    rooms = Rooms()
    app = room_app(rooms)
    async with TestClient(app, lifespan="off") as client:
        a, b = await joined(client, "/ws/r"), await joined(client, "/ws/r")
        await a.send_text("no setup")
        assert await b.receive_text() == "no setup"
        await a.close()
        await b.close()
    await rooms.disconnect()


def test_rooms_refuse_bad_settings() -> None:
    with pytest.raises(ValueError, match="queue_size must be a positive int, got 0"):
        Rooms(queue_size=0)
    with pytest.raises(ValueError, match="send_timeout must be a positive number"):
        Rooms(send_timeout=0)


@pytest.mark.yaat_memory_only("the errors are raised in the app, which runs in the test's loop")
async def test_misuse_is_refused_with_the_fix() -> None:
    rooms = Rooms()
    errors: list[BaseException] = []
    app = Yaat()

    @app.websocket_route("/ws")
    async def member(websocket: WebSocket) -> None:
        for attempt in (
            lambda: rooms.join("r", websocket).__aenter__(),
            lambda: rooms.publish_text("r", b"bytes"),  # type: ignore[arg-type]
            lambda: rooms.publish_bytes("r", "text"),  # type: ignore[arg-type]
            lambda: rooms.publish_json("r", object()),
            lambda: rooms.publish_json("r", {}, mode="binary"),  # type: ignore[arg-type]
        ):
            try:
                await attempt()
            except Exception as error:
                errors.append(error)
        await websocket.accept()
        try:
            await rooms.join("", websocket).__aenter__()
        except ValueError as error:
            errors.append(error)
        await websocket.close()

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        await ws.receive_close()
    messages = [f"{type(e).__name__}: {e}" for e in errors]
    assert messages[0].startswith("WebSocketStateError: rooms.join() before accept()")
    assert isinstance(errors[0], WebSocketStateError)
    assert messages[1].startswith("TypeError: publish_text() takes a str, got bytes")
    assert messages[2].startswith("TypeError: publish_bytes() takes bytes, got str")
    assert messages[3] == "TypeError: Object of type object is not JSON serializable"
    assert "mode must be 'text' or 'bytes'" in messages[4]
    assert messages[5].startswith("ValueError: rooms.join(): the room must be a non-empty str")
    await rooms.disconnect()


async def test_a_backend_that_needs_connecting_says_so() -> None:
    from yaat import RedisPubSub

    rooms = Rooms(RedisPubSub("redis://127.0.0.1:1/0"))
    with pytest.raises(RuntimeError, match=r"rooms.publish before rooms.connect\(\)"):
        await rooms.publish_text("r", "hi")


async def test_connecting_from_a_second_event_loop_is_refused() -> None:
    rooms = Rooms()
    await rooms.connect()
    try:
        with pytest.raises(RuntimeError, match="already connected in another event loop"):
            await asyncio.to_thread(asyncio.run, rooms.connect())
    finally:
        await rooms.disconnect()


def test_members_and_rooms_describe_themselves() -> None:
    rooms = Rooms()
    assert repr(rooms) == "<Rooms: 0 rooms over MemoryPubSub>"


async def test_connecting_twice_in_one_loop_is_one_connection() -> None:
    async with Rooms() as rooms:
        await rooms.connect()
        assert rooms.connected


async def test_rooms_left_by_an_ended_event_loop_are_forgotten() -> None:
    rooms = Rooms()

    async def in_another_loop() -> None:
        await rooms.connect()

    await asyncio.to_thread(asyncio.run, in_another_loop())
    assert rooms.connected  # connected, in a loop that has ended
    await rooms.publish_text("r", "nobody there")  # the in-memory backend starts afresh
    assert rooms.connected
    await rooms.disconnect()


async def test_a_suspended_send_goes_on_or_is_cancelled_in_the_task_that_awaits_it() -> None:
    loop = asyncio.get_running_loop()
    steps: list[object] = []

    async def send(waits_on: asyncio.Future[str]) -> None:
        try:
            steps.append(await waits_on)
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise

    for outcome in ("done", "cancel"):
        waits_on: asyncio.Future[str] = loop.create_future()
        coroutine = send(waits_on)
        suspended = Suspended(coroutine, coroutine.send(None))  # started here, waiting
        task = loop.create_task(_await(suspended))
        await asyncio.sleep(0)
        if outcome == "done":
            waits_on.set_result("sent")
            await task
        else:
            task.cancel()
            await asyncio.wait([task])
    assert steps == ["sent", "cancelled"]


async def _await(suspended: Suspended) -> None:
    await suspended


# -- presence --------------------------------------------------------------------------


def presence_app(rooms: Rooms) -> Yaat:
    """Each member joins with its name, and says who was there when it arrived."""
    app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])

    @app.websocket_route("/ws/{room}/{name}")
    async def member(websocket: WebSocket, room: str, name: str) -> None:
        await websocket.accept()
        async with rooms.join(room, websocket, presence={"name": name}):
            await websocket.send_json(sorted(p["name"] for p in await rooms.presence(room)))
            async for _ in websocket.iter_text():
                await websocket.send_json(sorted(p["name"] for p in await rooms.presence(room)))

    return app


async def test_presence_lists_who_is_in_a_room_now() -> None:
    rooms = Rooms()
    async with TestClient(presence_app(rooms)) as client:
        ada = await client.websocket_connect("/ws/r/ada").__aenter__()
        assert await ada.receive_json() == ["ada"]
        bob = await client.websocket_connect("/ws/r/bob").__aenter__()
        assert await bob.receive_json() == ["ada", "bob"]  # who was already there
        elsewhere = await client.websocket_connect("/ws/other/eve").__aenter__()
        assert await elsewhere.receive_json() == ["eve"]
        await bob.close()
        await until(lambda: rooms.count("r") == 1)
        await ada.send_text("who?")
        assert await ada.receive_json() == ["ada"]
        for ws in (ada, elsewhere):
            await ws.close()


@pytest.mark.yaat_memory_only("it evicts a member whose socket the in-memory server stalls")
async def test_a_member_removed_for_falling_behind_leaves_presence() -> None:
    rooms = Rooms(queue_size=QUEUE, send_timeout=0.3)
    async with TestClient(room_app(rooms)) as client:
        slow, healthy = await joined(client, "/ws/r"), await joined(client, "/ws/r")
        assert len(await rooms.presence("r")) == 2
        slow.pause_reading(buffer=BUFFER)
        await healthy.send_text(f"flood {FLOOD}")
        assert await numbered(healthy, FLOOD) == list(range(FLOOD))
        await until(lambda: rooms.count("r") == 1)
        assert await rooms.presence("r") == [None]  # joined without presence
        slow.resume_reading()
        await rest_until_close(slow)
        await healthy.close()


@pytest.mark.yaat_memory_only("the error is raised in the app, which runs in the test's loop")
async def test_presence_must_be_json() -> None:
    rooms = Rooms()
    app = Yaat()
    errors: list[BaseException] = []

    @app.websocket_route("/ws")
    async def member(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            async with rooms.join("r", websocket, presence={"when": object()}):
                pass
        except TypeError as error:
            errors.append(error)
        assert rooms.count("r") == 0

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        await ws.receive_close()
    assert [str(e) for e in errors] == ["Object of type object is not JSON serializable"]
    await rooms.disconnect()


# -- members the server closed on its own ------------------------------------------------


@pytest.mark.yaat_memory_only("the refusing send is uvicorn's, played in memory")
async def test_a_send_uvicorn_refuses_after_its_own_close_removes_the_member_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # What uvicorn raises for a send after it closed with 1009, 1007, 1002 or at a
    # keepalive timeout, before the app read the disconnect.
    rooms = Rooms()
    inner = room_app(rooms)
    closed: set[int] = set()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        async def refuses(message: Message) -> None:
            if id(scope) in closed and message["type"] == "websocket.send":
                raise RuntimeError(
                    "Unexpected ASGI message 'websocket.send', after sending 'websocket.close'."
                )
            await send(message)

        async def closes_on_request() -> Message:
            message = await receive()
            if message.get("text") == "the server closes me":
                closed.add(id(scope))
            return message

        await inner(scope, closes_on_request, refuses)

    async with TestClient(app) as client:
        victim, other = await joined(client, "/ws/r"), await joined(client, "/ws/r")
        await victim.send_text("the server closes me")  # published to the room, itself too
        assert await other.receive_text() == "the server closes me"
        await until(lambda: rooms.count("r") == 1)
        await other.send_text("hello")
        assert await other.receive_text() == "hello"
        await victim.close()
        await other.close()
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


@pytest.mark.live
@pytest.mark.yaat_memory_only("it serves plain uvicorn itself")
async def test_on_plain_uvicorn_a_member_it_closed_with_1009_is_removed_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    from conftest import serve

    rooms = Rooms()
    async with serve(room_app(rooms), ws_max_size=2000) as url:  # uvicorn's own protocol
        async with connect(f"{url}/ws/r") as talker, connect(f"{url}/ws/r") as victim:
            for ws in (talker, victim):
                assert await ws.recv() == "joined"
            await victim.send("v" * 5000)  # over --ws-max-size: uvicorn closes with 1009
            await talker.send("flood 50")  # while the room sends to it
            while await talker.recv() != "flooded":
                pass
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(5):
                    async for _ in victim:
                        pass
            assert victim.close_code == 1009
            await until(lambda: rooms.count("r") == 1)
    assert [r for r in caplog.records if r.name == "yaat.rooms"] == []
