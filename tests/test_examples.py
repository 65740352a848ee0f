"""examples/chat.py: rooms, join and leave notices, JSON messages, the page; and the demo
served for real: two processes sharing rooms through Redis, Redis going away, a thousand
members leaving at once, SIGTERM with members connected."""

from __future__ import annotations

import asyncio
import contextlib
import json
import resource
from collections.abc import AsyncIterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from examples.chat import REDIS_URL_VARIABLE, app, make_rooms, rooms
from tests.redis_server import RedisServer
from tests.served import Served, served
from yaat import MemoryPubSub, RedisPubSub
from yaat_testing import TestClient


async def test_the_page_and_its_icon_are_served() -> None:
    async with TestClient(app) as client:
        page = await client.get("/")
        icon = await client.get("/favicon.ico")
    assert page.status_code == 200
    assert "new WebSocket(" in page.text
    assert 'maxlength="2000"' in page.text  # the server's limit, enforced in the page
    assert (icon.status_code, icon.headers["content-type"]) == (200, "image/svg+xml")
    assert icon.content.startswith(b"<svg")


def notice(message: dict[str, Any]) -> tuple[str, str]:
    """A message's type and name: its id is random."""
    assert len(message.pop("id", "")) == 12
    return message["type"], message["name"]


async def test_members_of_a_room_see_joins_messages_and_leaves() -> None:
    async with TestClient(app) as client:
        async with client.websocket_connect("/ws/blue?name=ada") as ada:
            assert notice(await ada.receive_json()) == ("join", "ada")
            here = await ada.receive_json()
            assert [m["name"] for m in here["members"]] == ["ada"]
            async with client.websocket_connect("/ws/blue?name=bob") as bob:
                assert notice(await bob.receive_json()) == ("join", "bob")
                assert sorted(m["name"] for m in (await bob.receive_json())["members"]) == [
                    "ada",
                    "bob",
                ]
                assert notice(await ada.receive_json()) == ("join", "bob")
                await bob.send_json({"text": "hi ada"})
                for ws in (ada, bob):
                    said = await ws.receive_json()
                    assert notice(said) == ("message", "bob")
                    assert said["text"] == "hi ada"
            assert notice(await ada.receive_json()) == ("leave", "bob")
        assert rooms.count("blue") == 0


async def test_a_newcomer_learns_who_is_already_there() -> None:
    async with TestClient(app) as client:
        early = [await client.websocket_connect(f"/ws/p?name=m{i}").__aenter__() for i in range(3)]
        async with client.websocket_connect("/ws/p?name=late") as late:
            await late.receive_json()  # its own join
            here = await late.receive_json()
            assert here["type"] == "members"
            assert sorted(m["name"] for m in here["members"]) == ["late", "m0", "m1", "m2"]
            assert len({m["id"] for m in here["members"]}) == 4
        for ws in early:
            await ws.close()


async def test_rooms_are_separate() -> None:
    async with TestClient(app) as client:
        async with client.websocket_connect("/ws/a") as a, client.websocket_connect("/ws/b") as b:
            for ws in (a, b):
                await ws.receive_json()  # the join
                await ws.receive_json()  # the members
            await a.send_json({"text": "only a"})
            assert (await a.receive_json())["text"] == "only a"
            await b.assert_nothing_received(within=0.02)


@pytest.mark.parametrize(
    ("send", "close"),
    [
        (("text", "not json"), (1003, "send JSON text")),
        (("bytes", b'{"text": "binary"}'), (1003, "send JSON text")),
        (("json", {"text": 5}), (1008, "bad message")),
        (("json", ["text"]), (1008, "bad message")),
        (("json", {"text": "x" * 2001}), (1008, "bad message")),
        (("text", '{"text": "\\ud800"}'), (1007, "send JSON text")),
    ],
)
async def test_bad_messages_close_with_a_reason(
    send: tuple[str, Any], close: tuple[int, str]
) -> None:
    kind, data = send
    async with TestClient(app) as client, client.websocket_connect("/ws/a?name=x") as ws:
        await ws.receive_json()
        await ws.receive_json()
        await getattr(ws, f"send_{kind}")(data)
        assert await ws.receive_close() == close


def test_the_backend_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REDIS_URL_VARIABLE, raising=False)
    assert isinstance(make_rooms().pubsub, MemoryPubSub)
    monkeypatch.setenv(REDIS_URL_VARIABLE, "redis://127.0.0.1:6390/2")
    pubsub = make_rooms().pubsub
    assert isinstance(pubsub, RedisPubSub)
    assert pubsub.url == "redis://127.0.0.1:6390/2"


# -- served for real ---------------------------------------------------------------------


async def next_of(ws: ClientConnection, kind: str, timeout: float = 10.0) -> dict[str, Any]:
    """The next message of *kind*, skipping the others (joins, leaves)."""
    async with asyncio.timeout(timeout):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


@contextlib.asynccontextmanager
async def two_processes(redis_server: RedisServer) -> AsyncIterator[tuple[Served, Served]]:
    """The demo served twice, sharing rooms through *redis_server*; no traceback logged."""
    env = {REDIS_URL_VARIABLE: redis_server.url}
    async with (
        served("examples.chat:app", env=env) as one,
        served("examples.chat:app", env=env) as two,
    ):
        yield one, two
    assert "Traceback" not in one.stderr + two.stderr


@pytest.mark.live
async def test_two_processes_share_rooms_through_redis(redis_server: RedisServer) -> None:
    async with two_processes(redis_server) as (one, two):
        async with connect(one.ws("/ws/lobby?name=ada")) as ada:
            assert notice(await next_of(ada, "join")) == ("join", "ada")
            bob = await connect(two.ws("/ws/lobby?name=bob"))
            # bob's join, published by the other process, reaches ada's, and bob learns
            # that ada, served by the other process, is there.
            assert (await next_of(ada, "join"))["name"] == "bob"
            here = await next_of(bob, "members")
            assert sorted(m["name"] for m in here["members"]) == ["ada", "bob"]
            await ada.send(json.dumps({"text": "from one"}))
            await bob.send(json.dumps({"text": "from two"}))
            for ws in (ada, bob):
                texts = {(await next_of(ws, "message"))["text"] for _ in range(2)}
                assert texts == {"from one", "from two"}
            await bob.close()


@pytest.mark.live
async def test_the_demo_rides_out_a_redis_outage(redis_server: RedisServer) -> None:
    async with two_processes(redis_server) as (one, two):
        async with (
            connect(one.ws("/ws/r?name=ada")) as ada,
            connect(two.ws("/ws/r?name=bob")) as bob,
        ):
            await next_of(bob, "join")
            redis_server.stop()
            await ada.send(json.dumps({"text": "lost"}))
            assert await next_of(ada, "error") == {
                "type": "error",
                "text": "not delivered: try again",
            }
            redis_server.start()
            for attempt in range(50):  # bounded: about 10 s
                await ada.send(json.dumps({"text": f"back {attempt}"}))
                try:
                    message = await next_of(bob, "message", timeout=0.2)
                except TimeoutError:
                    continue
                break
            else:
                raise AssertionError("delivery did not resume within 10 s of Redis coming back")
            assert message["text"].startswith("back ")  # "lost" was lost: at-most-once


def enough_files(count: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < count:
        pytest.skip(f"this machine allows {hard} open files; the test needs {count}")
    if soft != resource.RLIM_INFINITY and soft < count:
        resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))  # the server inherits it


@pytest.mark.live
@pytest.mark.slow
async def test_a_thousand_members_leaving_at_once_log_no_traceback() -> None:
    enough_files(4096)
    async with served("examples.chat:app") as server:
        async with connect(server.ws("/ws/big?name=stays")) as stays:
            leaving = await asyncio.gather(
                *(connect(server.ws(f"/ws/big?name=m{n}"), compression=None) for n in range(1000))
            )
            await stays.send(json.dumps({"text": "before"}))
            for ws in leaving:
                ws.transport.abort()  # all at once: no close frame, as when a network fails
            await stays.send(json.dumps({"text": "after"}))
            while (await next_of(stays, "message", timeout=30))["text"] != "after":
                pass
    assert server.stderr.count("Traceback") == 0, server.stderr[-3000:]


@pytest.mark.live
async def test_sigterm_with_fifty_members_logs_no_traceback() -> None:
    async def read_to_the_end(ws: ClientConnection) -> int | None:
        # Members read all along, as browsers do: a client that does not read never
        # takes the server's close frame.
        with contextlib.suppress(ConnectionClosed):
            async for _ in ws:
                pass
        return ws.close_code

    async with served("examples.chat:app") as server:
        members = await asyncio.gather(*(connect(server.ws(f"/ws/r?name=m{n}")) for n in range(50)))
        readers = [asyncio.create_task(read_to_the_end(ws)) for ws in members]
        await members[0].send(json.dumps({"text": "hello"}))
        await asyncio.sleep(0.2)
        await server.terminate(timeout=15)
        codes = await asyncio.wait_for(asyncio.gather(*readers), 15)
    assert set(codes) == {1012}  # uvicorn's "service restart"
    assert "Traceback" not in server.stderr, server.stderr[-3000:]
