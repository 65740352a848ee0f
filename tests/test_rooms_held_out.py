"""Held-out tests for issue 19, items 1-6: written from the issue's text before the fix,
probing past its repro (surrogate pairs split in two, surrogates in keys, a handler that
raised, Redis paused while idle and while busy, joins to rooms already subscribed).

Each one runs in memory, or on a real ``yaat run`` / uvicorn, or against a real
redis-server, as its name says.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.redis_server import RedisServer
from tests.room_members import joined, until
from tests.served import Served, served
from tests.stuck_client import NeverReads
from yaat import (
    PubSubUnavailable,
    RedisPubSub,
    Rooms,
    WebSocket,
    WebSocketDisconnect,
    WebSocketStateError,
    Yaat,
)
from yaat_testing import TestClient

# -- item 1: text that cannot be encoded as UTF-8 never reaches a send -----------------

UNENCODABLE = [
    "\ud800",  # a lone high surrogate
    "ok \udfff",  # a lone low surrogate after valid text
    "\ud83d\ude00",  # a surrogate *pair* as two code points: still not UTF-8
]


@pytest.mark.parametrize("text", UNENCODABLE)
async def test_send_text_refuses_unencodable_text_and_the_connection_goes_on(text: str) -> None:
    errors: list[str] = []
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        for attempt in (
            lambda: websocket.send_text(text),
            lambda: websocket.send_json({"text": text}),
            lambda: websocket.send_json({text: 1}),  # in a key
        ):
            try:
                await attempt()
            except ValueError as error:
                errors.append(str(error))
        await websocket.send_text("still open")

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "still open"
    assert len(errors) == 3
    for error in errors:
        assert "UTF-8 cannot encode: a lone surrogate" in error


@pytest.mark.parametrize("text", UNENCODABLE)
async def test_publishing_unencodable_text_is_refused_and_deafens_nobody(text: str) -> None:
    rooms = Rooms()
    app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])
    refused: list[BaseException] = []

    @app.websocket_route("/ws")
    async def member(websocket: WebSocket) -> None:
        await websocket.accept()
        async with rooms.join("r", websocket):
            await websocket.send_text("joined")
            async for said in websocket.iter_text():
                if said == "hostile":
                    for attempt in (
                        lambda: rooms.publish_text("r", text),
                        lambda: rooms.publish_json("r", {"text": text}),
                    ):
                        try:
                            await attempt()
                        except ValueError as error:
                            refused.append(error)
                await rooms.publish_text("r", said)

    async with TestClient(app) as client:
        members = [await joined(client, "/ws") for _ in range(3)]
        await members[0].send_text("hostile")
        for ws in members:
            assert await ws.receive_text() == "hostile"
        await members[1].send_text("after")
        for ws in members:
            assert await ws.receive_text() == "after"
        assert rooms.count("r") == 3
        for ws in members:
            await ws.close()
    assert len(refused) == 2


@pytest.mark.live
@pytest.mark.parametrize(
    "hostile",
    [
        r'{"text":"\ud800"}',
        r'{"text":"fine","extra":"\udc00"}',  # in a field the demo ignores
        r'{"\ud800":"key"}',
        r'{"text":"\ud83d"}',  # half a pair
    ],
)
async def test_the_demo_answers_a_lone_surrogate_with_1007_and_the_room_goes_on(
    hostile: str,
) -> None:
    async with served("examples.chat:app") as server:
        async with (
            connect(server.ws("/ws/r?name=mallory")) as mallory,
            connect(server.ws("/ws/r?name=ada")) as ada,
        ):
            await until_notice(ada, "join", "ada")
            await mallory.send(hostile)
            with pytest.raises(ConnectionClosed):
                async with asyncio.timeout(5):
                    async for _ in mallory:
                        pass
            assert mallory.close_code == 1007
            await ada.send(json.dumps({"text": "still hearing? 😀"}))
            said = await until_message(ada, "message")
            assert said["text"] == "still hearing? 😀"
    assert "Traceback" not in server.stderr


# -- item 2: a send to a connection the server already closed logs nothing -------------


@pytest.mark.live
async def test_sends_to_a_member_the_server_closed_log_no_error() -> None:
    # uvicorn closes with 1007 (invalid UTF-8) and 1009 (over --ws-max-size) on its own,
    # while the room keeps publishing to that member.
    async with served("examples.chat:app", "--log-level", "info") as server:
        async with connect(server.ws("/ws/r?name=talker")) as talker:
            await until_notice(talker, "join", "talker")
            for frame in (b"\xff\xfe", "x" * 20_000):
                async with connect(server.ws("/ws/r?name=victim")) as victim:
                    await until_notice(talker, "join", "victim")
                    chatter = asyncio.create_task(chat(talker, 200))
                    if isinstance(frame, bytes):
                        await victim.send(frame, text=True)  # invalid UTF-8 as text
                    else:
                        await victim.send(json.dumps({"text": frame}))
                    with contextlib.suppress(ConnectionClosed):
                        async with asyncio.timeout(10):
                            async for _ in victim:
                                pass
                    assert victim.close_code in (1007, 1009)
                    await chatter
    assert "Traceback" not in server.stderr
    assert "ERROR" not in server.stderr
    assert "Unexpected ASGI message" not in server.stderr


# -- item 3: a peer whose handler has returned raises WebSocketDisconnect --------------


async def test_a_connection_manager_sending_to_a_member_whose_handler_returned() -> None:
    connections: dict[str, WebSocket] = {}
    outcomes: dict[str, str] = {}
    app = Yaat()

    @app.websocket_route("/ws/{name}")
    async def handler(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        connections[name] = websocket
        if name == "raises":
            raise RuntimeError("the handler broke")
        if name == "returns":
            return  # while the client is still connected: the framework closes it
        if name == "closes":
            await websocket.close(4000)
            return
        async for text in websocket.iter_text():
            for other, peer in connections.items():
                if other != name:
                    try:
                        await peer.send_text(text)
                        outcomes[other] = "sent"
                    except WebSocketDisconnect as gone:
                        outcomes[other] = f"gone {gone.code}"
                    except WebSocketStateError as misuse:
                        outcomes[other] = f"state error: {misuse}"
            await websocket.send_text("done")

    async with TestClient(app, raise_app_exceptions=False) as client:
        async with client.websocket_connect("/ws/left") as left:
            await left.send_text("hi")
        for name in ("returns", "closes", "raises"):
            async with client.websocket_connect(f"/ws/{name}") as ws:
                await ws.receive()
        async with client.websocket_connect("/ws/speaker") as speaker:
            await until(lambda: len(connections) == 5)
            await asyncio.sleep(0.05)  # every other handler has returned
            await speaker.send_text("anyone?")
            assert await speaker.receive_text() == "done"
    # The client that left may have gone while its handler answered it (1006).
    assert outcomes.pop("left") in ("gone 1000", "gone 1006")
    assert outcomes == {
        "returns": "gone 1000",
        "closes": "gone 4000",
        "raises": "gone 1011",
    }


async def test_a_handler_sending_after_its_own_close_is_still_its_own_misuse() -> None:
    app = Yaat()
    errors: list[BaseException] = []

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close()
        try:
            await websocket.send_text("after close")
        except Exception as error:
            errors.append(error)

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        await ws.receive()
    [error] = errors
    assert isinstance(error, WebSocketStateError)


# -- item 4: a member that never reads is freed within a bound -------------------------


@contextlib.asynccontextmanager
async def demo(*options: str) -> AsyncIterator[Served]:
    async with served("examples.chat:app", *options, stop_timeout=20) as server:
        yield server


async def flood_until_gone(talker: ClientConnection, name: str, deadline: float) -> float:
    """Talk (bursts of 2,000-character messages) until *name*'s leave notice arrives."""
    started = time.monotonic()
    text = "y" * 2000
    async with asyncio.timeout(deadline):
        while True:
            for _ in range(20):
                await talker.send(json.dumps({"text": text}))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.02):
                    while True:
                        notice = json.loads(await talker.recv())
                        if notice.get("type") == "leave" and notice.get("name") == name:
                            return time.monotonic() - started


@pytest.mark.live
@pytest.mark.slow
async def test_a_member_that_never_reads_is_dropped_by_the_keepalive() -> None:
    options = ("--ws-ping-interval", "1", "--ws-ping-timeout", "1")
    async with demo(*options) as server:
        async with connect(server.ws("/ws/r?name=talker"), max_queue=None) as talker:
            await until_notice(talker, "join", "talker")
            stuck = await NeverReads.open(server.port, "/ws/r?name=stuck")
            try:
                # keepalive 1 + 1 s, then a close that cannot be flushed: a few seconds.
                took = await flood_until_gone(talker, "stuck", deadline=20)
            finally:
                stuck.close()
    assert took < 15
    assert "Traceback" not in server.stderr


@pytest.mark.live
@pytest.mark.slow
async def test_an_evicted_member_that_never_reads_is_dropped_without_keepalive() -> None:
    # No keepalive at all: the room's 1013 close cannot be flushed, and is bounded.
    async with demo("--ws-ping-interval", "0") as server:
        async with connect(server.ws("/ws/r?name=talker"), max_queue=None) as talker:
            await until_notice(talker, "join", "talker")
            stuck = await NeverReads.open(server.port, "/ws/r?name=stuck")
            try:
                took = await flood_until_gone(talker, "stuck", deadline=40)
            finally:
                stuck.close()
    assert took < 30
    assert "Traceback" not in server.stderr


@pytest.mark.live
@pytest.mark.slow
async def test_sigterm_does_not_wait_for_a_member_that_never_reads() -> None:
    async with demo("--ws-ping-interval", "0") as server:
        async with connect(server.ws("/ws/r?name=talker"), max_queue=None) as talker:
            await until_notice(talker, "join", "talker")
            stuck = await NeverReads.open(server.port, "/ws/r?name=stuck")
            # Fill its buffers without waiting for an eviction.
            for _ in range(3000):
                await talker.send(json.dumps({"text": "z" * 2000}))
            await asyncio.sleep(1)
            started = time.monotonic()
            await server.terminate(timeout=20)
            took = time.monotonic() - started
            stuck.close()
    assert took < 8, f"SIGTERM took {took:.1f} s"


# -- items 5 and 6: Redis saturated, paused ------------------------------------------


def redis_rooms_app(rooms: Rooms) -> Yaat:
    """Each message is published; a failure is answered "failed" or "unconfirmed"."""
    app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])

    @app.websocket_route("/ws/{room}")
    async def member(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        async with rooms.join(room, websocket):
            await websocket.send_text("joined")
            async for text in websocket.iter_text():
                try:
                    await rooms.publish_text(room, text)
                except PubSubUnavailable as error:
                    await websocket.send_text(f"failed: {error}")

    return app


@pytest.mark.parametrize("senders", [300, 2000])
async def test_many_senders_at_once_are_all_published(
    redis_server: RedisServer, senders: int
) -> None:
    async with Rooms(RedisPubSub(redis_server.url)) as rooms:
        results = await asyncio.gather(
            *(rooms.publish_text(f"room {i}", f"m{i}") for i in range(senders)),
            return_exceptions=True,
        )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []


async def test_three_hundred_members_each_send_one_message(redis_server: RedisServer) -> None:
    rooms = Rooms(RedisPubSub(redis_server.url))
    async with TestClient(redis_rooms_app(rooms), server="uvicorn") as client:
        members = await asyncio.gather(*(joined(client, "/ws/big") for _ in range(300)))
        await asyncio.gather(*(ws.send_text(f"from {i}") for i, ws in enumerate(members)))
        for ws in members[:5]:
            texts = [await ws.receive_text() for _ in range(300)]
            assert not [t for t in texts if t.startswith("failed")]
            assert sorted(texts) == sorted(f"from {i}" for i in range(300))
        # 295 members never read their 300 messages: a websockets client that holds more
        # than 16 unread stops reading, so its close waits for an answer it cannot read
        # (live: 1006 after the timeout). Close them all at once, not one wait each.
        await asyncio.gather(*(ws.close() for ws in members))


async def test_a_saturated_pool_is_never_called_unreachable(redis_server: RedisServer) -> None:
    async with Rooms(RedisPubSub(redis_server.url, timeout=5.0)) as rooms:
        results = await asyncio.gather(
            *(rooms.publish_text("r", "x" * 10_000) for _ in range(2000)),
            return_exceptions=True,
        )
    assert not [r for r in results if "unreachable" in str(r)]
    assert not [r for r in results if isinstance(r, BaseException)]


async def test_what_a_paused_redis_reports_failed_is_never_delivered_later(
    redis_server: RedisServer,
) -> None:
    rooms = Rooms(RedisPubSub(redis_server.url, timeout=0.5, retry=0.1))
    async with TestClient(redis_rooms_app(rooms), server="uvicorn") as client:
        senders = [await joined(client, "/ws/r") for _ in range(5)]
        listener = await joined(client, "/ws/r")
        await senders[0].send_text("before")
        for ws in [*senders, listener]:
            assert await ws.receive_text() == "before"
        redis_server.pause()
        try:
            for i, ws in enumerate(senders):
                await ws.send_text(f"during {i}")
            failed = []
            for i, ws in enumerate(senders):
                answer = await ws.receive_text(timeout=5)
                assert answer.startswith("failed"), answer
                failed.append(f"during {i}")
        finally:
            redis_server.resume()
        # Whatever Redis does with what it buffered, a failure reported is never delivered.
        await senders[0].send_text("after")
        seen = []
        async with asyncio.timeout(10):
            while (text := await listener.receive_text()) != "after":
                seen.append(text)
        await listener.assert_nothing_received(within=1.0)
        assert not set(seen) & set(failed)
        for ws in [*senders, listener]:
            await ws.close()


async def test_joins_while_redis_is_paused_do_not_queue_behind_each_other(
    redis_server: RedisServer,
) -> None:
    timeout = 1.0
    rooms = Rooms(RedisPubSub(redis_server.url, timeout=timeout, retry=0.1))
    async with TestClient(redis_rooms_app(rooms), server="uvicorn") as client:
        first = await joined(client, "/ws/known")
        redis_server.pause()
        try:
            started = time.monotonic()
            known = await joined(client, "/ws/known")
            assert time.monotonic() - started < 0.5  # already subscribed: no wait on Redis
            started = time.monotonic()
            newcomers = await asyncio.gather(*(joined(client, f"/ws/new{i}") for i in range(6)))
            assert time.monotonic() - started < timeout * 2 + 1  # not 6 x the timeout
        finally:
            redis_server.resume()
        for ws in [first, known, *newcomers]:
            await ws.close()


# -- helpers ---------------------------------------------------------------------------


async def until_notice(ws: ClientConnection, kind: str, name: str) -> None:
    async with asyncio.timeout(10):
        while True:
            data = json.loads(await ws.recv())
            if data.get("type") == kind and data.get("name") == name:
                return


async def until_message(ws: ClientConnection, kind: str) -> dict[str, str]:
    async with asyncio.timeout(10):
        while True:
            data: dict[str, str] = json.loads(await ws.recv())
            if data.get("type") == kind:
                return data


async def chat(ws: ClientConnection, count: int) -> None:
    for i in range(count):
        await ws.send(json.dumps({"text": f"chatter {i}"}))
        await asyncio.sleep(0.001)
