"""yaat.pubsub: the in-memory backend, and Redis (a private, real redis-server) across
processes, through outages.

The Redis backend connects in the app's lifespan, so these tests run as uvicorn (or on
it, live) whatever ``--yaat-server`` says: daphne has no lifespan.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

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


# -- outages: one line each way, with many senders ---------------------------------------


def outage_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [
        (r.levelname, r.getMessage().split(" (")[0].split(" after ")[0])
        for r in caplog.records
        if r.name == "yaat.pubsub"
    ]


async def publish_until_delivered(rooms: Rooms, delivered: list[Payload], room: str) -> None:
    """Publish (bounded: about 10 s) until a message gets through again."""
    for attempt in range(100):
        try:
            await rooms.publish_text(room, f"again {attempt}")
        except PubSubUnavailable:
            await asyncio.sleep(0.1)
            continue
        for _ in range(10):
            if any(str(p).startswith("again") for p in delivered):
                return
            await asyncio.sleep(0.01)
    raise AssertionError("delivery did not resume within 10 s")


class Listening:
    """A second process's view of a room: what its backend delivers."""

    def __init__(self, url: str) -> None:
        self.delivered: list[Payload] = []
        self.pubsub = RedisPubSub(url, timeout=0.5, retry=0.1, heartbeat=0.2)

    async def __aenter__(self) -> Listening:
        await self.pubsub.connect(lambda room, payload: self.delivered.append(payload))
        await self.pubsub.subscribe("r")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.pubsub.disconnect()


@pytest.mark.parametrize("senders", [300, 2000])
async def test_senders_while_redis_is_killed_and_restarted(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, senders: int
) -> None:
    caplog.set_level(logging.INFO, "yaat.pubsub")
    pubsub = RedisPubSub(redis_server.url, timeout=0.5, retry=0.1, heartbeat=0.2)
    async with Rooms(pubsub) as rooms, Listening(redis_server.url) as other:
        await rooms.publish_text("r", "before")
        redis_server.stop()
        started = time.monotonic()
        results = await asyncio.gather(
            *(rooms.publish_text("r", f"during {i}") for i in range(senders)),
            return_exceptions=True,
        )
        assert time.monotonic() - started < pubsub.timeout * 2 + 2  # each fails, in bounds
        assert {type(r) for r in results} == {PubSubUnavailable}
        redis_server.start()
        await publish_until_delivered(rooms, other.delivered, "r")
        assert not [p for p in other.delivered if str(p).startswith("during")]
    # Two backends (this process's, the other's): one line each, for each way.
    assert sorted(outage_lines(caplog)) == [
        ("INFO", f"Redis at {redis_server.url} is back"),
        ("INFO", f"Redis at {redis_server.url} is back"),
        ("WARNING", f"Redis at {redis_server.url} went away"),
        ("WARNING", f"Redis at {redis_server.url} went away"),
    ]


@pytest.mark.parametrize("senders", [300, 2000])
async def test_senders_while_redis_is_paused_are_told_and_never_delivered_later(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture, senders: int
) -> None:
    caplog.set_level(logging.INFO, "yaat.pubsub")
    pubsub = RedisPubSub(redis_server.url, timeout=0.5, retry=0.1, heartbeat=0.2)
    async with Rooms(pubsub) as rooms, Listening(redis_server.url) as other:
        await rooms.publish_text("r", "before")
        redis_server.pause()
        try:
            started = time.monotonic()
            results = await asyncio.gather(
                *(rooms.publish_text("r", f"during {i}") for i in range(senders)),
                return_exceptions=True,
            )
            assert time.monotonic() - started < pubsub.timeout * 2 + 2
            assert {type(r) for r in results} == {PubSubUnavailable}
            # Some were in flight when Redis stopped answering: sent, and refused later.
            assert any(r.sent for r in results if isinstance(r, PubSubUnavailable))
        finally:
            redis_server.resume()
        await publish_until_delivered(rooms, other.delivered, "r")
        await asyncio.sleep(0.5)  # whatever Redis had buffered has run by now
        assert not [p for p in other.delivered if str(p).startswith("during")]
    # Two backends: the publisher's saw the outage; the other's, if its listener's PING
    # went unanswered.  One line each, for each way.
    lines = outage_lines(caplog)
    went = lines.count(("WARNING", f"Redis at {redis_server.url} went away"))
    back = lines.count(("INFO", f"Redis at {redis_server.url} is back"))
    assert (went, len(lines)) in ((1, 2), (2, 4))
    assert back == went


async def test_an_outage_is_one_warning_and_its_end_one_info(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "yaat.pubsub")
    rooms = Rooms(RedisPubSub(redis_server.url, timeout=0.5, retry=0.1, heartbeat=0.2))
    async with TestClient(room_app(rooms), server=SERVER) as client:
        ws = await joined(client, "/ws/r")
        redis_server.stop()
        for _ in range(3):
            with pytest.raises(PubSubUnavailable):
                await rooms.publish_text("r", "lost")
        await asyncio.sleep(0.5)
        redis_server.start()
        for _ in range(100):  # bounded: about 5 s
            if any(r.levelname == "INFO" for r in caplog.records if r.name == "yaat.pubsub"):
                break
            await asyncio.sleep(0.05)
        await ws.send_text("back")
        assert await ws.receive_text() == "back"
        await ws.close()
    assert outage_lines(caplog) == [
        ("WARNING", f"Redis at {redis_server.url} went away"),
        ("INFO", f"Redis at {redis_server.url} is back"),
    ]


async def test_publishes_share_one_connection(redis_server: RedisServer) -> None:
    watcher = redis.from_url(redis_server.url)
    try:
        async with Rooms(RedisPubSub(redis_server.url)) as rooms:
            await rooms.publish_text("r", "the connection is open")
            before = len(await watcher.client_list())
            await asyncio.gather(*(rooms.publish_text(f"r{i}", "x") for i in range(2000)))
            assert len(await watcher.client_list()) == before
    finally:
        await watcher.aclose()


# -- presence across processes ---------------------------------------------------------


def presence_app(rooms: Rooms) -> Yaat:
    app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])

    @app.websocket_route("/ws/{name}")
    async def member(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        async with rooms.join("r", websocket, presence=name):
            await websocket.send_text("joined")
            async for _ in websocket.iter_text():
                await websocket.send_json(sorted(await rooms.presence("r")))

    return app


async def test_presence_spans_processes_and_forgets_one_that_died(
    redis_server: RedisServer,
) -> None:
    def backend() -> RedisPubSub:
        return RedisPubSub(redis_server.url, timeout=0.5, retry=0.1, heartbeat=0.2)

    one, two, dying = Rooms(backend()), Rooms(backend()), Rooms(backend())
    async with (
        TestClient(presence_app(one), server=SERVER) as first,
        TestClient(presence_app(two), server=SERVER) as second,
    ):
        ada = await joined(first, "/ws/ada")
        bob = await joined(second, "/ws/bob")
        await dying.connect()
        app = presence_app(dying)
        third = TestClient(app, server=SERVER, lifespan="off")
        await third.__aenter__()
        eve = await joined(third, "/ws/eve")
        await ada.send_text("who?")
        assert await ada.receive_json() == ["ada", "bob", "eve"]
        # The third process dies: its tasks stop, and nothing of it is removed from Redis.
        assert isinstance(dying.pubsub, RedisPubSub)
        for task in dying.pubsub._tasks:
            task.cancel()
        assert dying.pubsub._commands is not None
        await dying.pubsub._commands.stop()
        await eve.drop()
        await bob.send_text("who?")
        assert await bob.receive_json() == ["ada", "bob", "eve"]  # its heartbeat lives on
        await asyncio.sleep(0.2 * 3 + 0.3)  # three heartbeats: its key has expired
        await bob.send_text("who?")
        assert await bob.receive_json() == ["ada", "bob"]
        await ada.close()
        await bob.close()
    # What the dead process left was deleted by the reader that found it dead.
    watcher = redis.from_url(redis_server.url)
    try:
        assert await watcher.hgetall("yaat:presence:r") == {}
    finally:
        await watcher.aclose()
    await third.__aexit__(None, None, None)
    await dying.disconnect()


def calls(stats: dict[str, Any], command: str) -> int:
    return int(stats.get(f"cmdstat_{command}", {}).get("calls", 0))


async def test_a_join_costs_one_presence_command(redis_server: RedisServer) -> None:
    watcher = redis.from_url(redis_server.url)
    rooms = Rooms(RedisPubSub(redis_server.url))
    try:
        async with TestClient(presence_app(rooms), server=SERVER) as client:
            first = await joined(client, "/ws/first")  # subscribes the room
            before = await watcher.info("commandstats")
            members = [await joined(client, f"/ws/m{i}") for i in range(50)]
            for _ in range(100):  # bounded: the member's record is written in the background
                after = await watcher.info("commandstats")
                if calls(after, "hset") - calls(before, "hset") >= 50:
                    break
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)
            after = await watcher.info("commandstats")
            for ws in [first, *members]:
                await ws.close()
    finally:
        await watcher.aclose()

    assert calls(after, "hset") - calls(before, "hset") == 50
    assert calls(after, "subscribe") == calls(before, "subscribe")  # already subscribed
    assert calls(after, "hgetall") == calls(before, "hgetall")


async def test_presence_comes_back_after_redis_restarts_empty(redis_server: RedisServer) -> None:
    rooms = Rooms(RedisPubSub(redis_server.url, timeout=0.5, retry=0.1, heartbeat=0.2))
    async with TestClient(presence_app(rooms), server=SERVER) as client:
        ada = await joined(client, "/ws/ada")
        redis_server.stop()
        redis_server.start()  # nothing saved: Redis starts empty
        watcher = redis.from_url(redis_server.url)
        try:
            for _ in range(100):  # bounded: about 5 s
                if await watcher.hvals("yaat:presence:r") == [b'"ada"']:
                    break
                await asyncio.sleep(0.05)
            else:
                raise AssertionError("the member was not written again")
        finally:
            await watcher.aclose()
        await ada.close()
