"""yaat.pubsub: the in-memory backend, and Redis (a private, real redis-server) across
processes, through outages.

The Redis backend connects in the app's lifespan, so these tests run as uvicorn (or on
it, live) whatever ``--yaat-server`` says: daphne has no lifespan.
"""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as redis

from tests.redis_server import RedisServer
from tests.room_members import joined, room_app
from yaat import MemoryPubSub, PubSubUnavailable, RedisPubSub, Rooms, WebSocket, Yaat
from yaat.pubsub import Payload
from yaat_testing import LifespanFailed, TestClient

SERVER = "uvicorn"  # one with a lifespan


async def test_the_memory_backend_delivers_in_order() -> None:
    delivered: list[tuple[str, Payload]] = []
    pubsub = MemoryPubSub()
    await pubsub.connect(lambda room, payload: delivered.append((room, payload)))
    await pubsub.subscribe("r")
    await pubsub.publish("r", "one")
    await pubsub.publish("r", b"two")
    await pubsub.unsubscribe("r")
    await pubsub.disconnect()
    assert delivered == [("r", "one"), ("r", b"two")]


async def test_two_processes_share_a_room_through_redis(redis_server: RedisServer) -> None:
    # Two apps with their own Rooms and Redis connections, as two workers would have.
    one, two = Rooms(RedisPubSub(redis_server.url)), Rooms(RedisPubSub(redis_server.url))
    async with (
        TestClient(room_app(one), server=SERVER) as first,
        TestClient(room_app(two), server=SERVER) as second,
    ):
        a, b = await joined(first, "/ws/r"), await joined(second, "/ws/r")
        elsewhere = await joined(second, "/ws/other")
        await a.send_text("from one")
        await b.send_text("from two")
        for ws in (a, b):  # in either order: order is kept per publisher only
            assert {await ws.receive_text(), await ws.receive_text()} == {"from one", "from two"}
        await elsewhere.assert_nothing_received(within=0.1)
        for ws in (a, b, elsewhere):
            await ws.close()


async def test_text_and_bytes_keep_their_kind_through_redis(redis_server: RedisServer) -> None:
    async with Rooms(RedisPubSub(redis_server.url)) as rooms:
        app = Yaat()

        @app.websocket_route("/ws")
        async def member(websocket: WebSocket) -> None:
            await websocket.accept()
            async with rooms.join("r", websocket):
                await websocket.send_text("joined")
                await websocket.receive_text()

        async with TestClient(app, server=SERVER) as client, client.websocket_connect("/ws") as ws:
            assert await ws.receive_text() == "joined"
            await rooms.publish_text("r", "bytes next")
            await rooms.publish_bytes("r", b"t\x00\xff")
            await rooms.publish_json("r", {"é": 1})
            assert await ws.receive_text() == "bytes next"
            assert await ws.receive_bytes() == b"t\x00\xff"
            assert await ws.receive_json() == {"é": 1}
            await ws.send_text("done")


async def test_members_joining_a_new_room_at_once_all_get_its_first_message(
    redis_server: RedisServer,
) -> None:
    rooms = Rooms(RedisPubSub(redis_server.url))
    async with TestClient(room_app(rooms), server=SERVER) as client:
        members = await asyncio.gather(*(joined(client, "/ws/new") for _ in range(20)))
        await members[0].send_text("first")
        assert [await ws.receive_text() for ws in members] == ["first"] * 20
        for ws in members:
            await ws.close()


async def test_a_room_is_unsubscribed_when_its_last_member_leaves(
    redis_server: RedisServer,
) -> None:
    rooms = Rooms(RedisPubSub(redis_server.url))
    watcher = redis.from_url(redis_server.url)
    try:
        async with TestClient(room_app(rooms), server=SERVER) as client:
            ws = await joined(client, "/ws/passing")
            assert await watcher.pubsub_channels() == [b"yaat:rooms:passing"]
            await ws.close()
            for _ in range(200):
                if await watcher.pubsub_channels() == []:
                    break
                await asyncio.sleep(0.01)
            assert await watcher.pubsub_channels() == []
    finally:
        await watcher.aclose()


async def test_an_unreachable_redis_fails_startup_naming_the_url() -> None:
    url = "redis://127.0.0.1:1/0"  # nothing listens on port 1
    rooms = Rooms(RedisPubSub(url, timeout=1.0))
    with pytest.raises(LifespanFailed, match=r"cannot reach Redis at redis://127\.0\.0\.1:1/0"):
        async with TestClient(room_app(rooms), server=SERVER):
            pass


async def test_redis_going_away_and_coming_back(redis_server: RedisServer) -> None:
    pubsub = RedisPubSub(redis_server.url, timeout=1.0, retry=0.2)
    rooms = Rooms(pubsub)
    async with TestClient(room_app(rooms), server=SERVER) as client:
        a, b = await joined(client, "/ws/r"), await joined(client, "/ws/r")
        await a.send_text("before")
        assert await b.receive_text() == "before"

        redis_server.stop()
        # Publishers get a clear error within the timeout, never a hang.
        started = time.monotonic()
        with pytest.raises(PubSubUnavailable, match=r"cannot publish to room .r.: Redis at redis:"):
            await rooms.publish_text("r", "during")
        assert time.monotonic() - started < pubsub.timeout + 1.0
        await b.assert_nothing_received(within=0.3)
        assert rooms.count("r") == 2  # members stay connected

        redis_server.start()
        started = time.monotonic()
        for attempt in range(100):  # bounded: 100 x 0.1 s
            try:
                await rooms.publish_text("r", f"after {attempt}")
                text = await b.receive_text(timeout=0.1)
            except (PubSubUnavailable, TimeoutError):
                continue
            break
        else:
            raise AssertionError("delivery did not resume within 10 s of Redis coming back")
        assert text.startswith("after ")
        assert time.monotonic() - started < 5.0
        # Delivery is back for members of both processes' kind: the publisher's own too.
        while (await a.receive_text()) != text:
            pass
        await a.close()
        await b.close()


async def test_a_member_joining_while_redis_is_away_is_subscribed_when_it_is_back(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    rooms = Rooms(RedisPubSub(redis_server.url, timeout=0.5, retry=0.1))
    async with TestClient(room_app(rooms), server=SERVER) as client:
        redis_server.stop()
        late = await joined(client, "/ws/late")
        assert "room 'late': not subscribed yet" in caplog.text
        redis_server.start()
        for attempt in range(100):  # bounded: about 10 s
            try:
                await rooms.publish_text("late", f"hello {attempt}")
                await late.receive_text(timeout=0.1)
            except (PubSubUnavailable, TimeoutError):
                continue
            break
        else:
            raise AssertionError("the late member never got a message")
        await late.close()


async def test_subscribing_twice_is_one_subscription(redis_server: RedisServer) -> None:
    delivered: list[Payload] = []
    pubsub = RedisPubSub(redis_server.url)
    await pubsub.connect(lambda room, payload: delivered.append(payload))
    try:
        await pubsub.subscribe("r")
        await pubsub.subscribe("r")
        await pubsub.publish("r", "once")
        for _ in range(100):
            if delivered:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        assert delivered == ["once"]
    finally:
        await pubsub.disconnect()
