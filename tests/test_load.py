"""Load: many sessions, many messages, big messages; nothing lost, nothing reordered.

Bounded in count and time; ``slow`` so that a quick run can leave them out
(``-m "not slow"``).  CI runs them.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import defaultdict
from urllib.parse import urlsplit

import pytest
from websockets.asyncio.client import connect

from conftest import serve
from examples.chat import app as chat_app
from yaat import Yaat
from yaat.websockets import WebSocket
from yaat_testing import TestClient, WebSocketSession

pytestmark = pytest.mark.slow
memory_only = pytest.mark.yaat_memory_only("an in-memory load test; the live ones are below")


def echo_app() -> Yaat:
    app = Yaat(max_message_size=16 * 2**20)  # as large as uvicorn's own limit

    @app.websocket_route("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for message in websocket.iter_bytes():
            await websocket.send_bytes(message)

    @app.websocket_route("/echo-text")
    async def echo_text(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(text)

    return app


@memory_only
async def test_ten_thousand_concurrent_sessions_on_one_client() -> None:
    async with TestClient(echo_app()) as client:
        contexts = [client.websocket_connect(f"/echo-text?i={i}") for i in range(10_000)]
        sessions: list[WebSocketSession] = [await c.__aenter__() for c in contexts]
        for i, ws in enumerate(sessions):
            await ws.send_text(str(i))
        replies = [await ws.receive_text() for ws in sessions]
        for context in contexts:
            await context.__aexit__(None, None, None)
    assert replies == [str(i) for i in range(10_000)]
    assert asyncio.all_tasks() == {asyncio.current_task()}


@memory_only
async def test_four_hundred_sessions_of_fifty_messages_arrive_in_order() -> None:
    async def one(client: TestClient, n: int) -> list[str]:
        async with client.websocket_connect("/echo-text") as ws:
            for i in range(50):
                await ws.send_text(f"{n}:{i}")
            return [await ws.receive_text() for _ in range(50)]

    async with TestClient(echo_app()) as client:
        results = await asyncio.gather(*(one(client, n) for n in range(400)))
    assert results == [[f"{n}:{i}" for i in range(50)] for n in range(400)]


@memory_only
async def test_eight_mebibyte_messages_are_intact() -> None:
    payload = os.urandom(8 * 1024 * 1024)
    async with TestClient(echo_app()) as client, client.websocket_connect("/echo") as ws:
        for _ in range(3):
            await ws.send_bytes(payload)
            assert await ws.receive_bytes() == payload


@pytest.mark.live
async def test_two_hundred_live_clients_echo_a_thousand_messages_each() -> None:
    async with serve(echo_app()) as base:

        async def one(n: int) -> list[str]:
            async with connect(f"{base}/echo-text", compression=None) as ws:
                for i in range(1000):
                    await ws.send(f"{n}:{i}")
                return [str(await ws.recv()) for _ in range(1000)]

        results = await asyncio.wait_for(asyncio.gather(*(one(n) for n in range(200))), timeout=120)
    assert results == [[f"{n}:{i}" for i in range(1000)] for n in range(200)]


@pytest.mark.live
async def test_a_live_chat_room_of_fifty_delivers_all_five_thousand_messages() -> None:
    clients, per_client = 50, 100
    async with serve(chat_app) as base:
        host = urlsplit(base).netloc
        sockets = []
        for n in range(clients):
            ws = await connect(f"ws://{host}/ws/load?name=c{n}", compression=None)
            sockets.append(ws)
        # Everyone is in: each client has seen the joins of those after it, and the
        # members who were there before it.
        for n, ws in enumerate(sockets):
            kinds = [str(await asyncio.wait_for(ws.recv(), 30)) for _ in range(clients - n + 1)]
            assert sum('"type":"join"' in kind for kind in kinds) == clients - n
            assert sum('"type":"members"' in kind for kind in kinds) == 1

        async def talk(n: int, ws: object) -> None:
            for i in range(per_client):
                await ws.send(f'{{"text": "{n}:{i}"}}')  # type: ignore[attr-defined]

        async def listen(ws: object) -> dict[str, list[int]]:
            import json

            by_sender: dict[str, list[int]] = defaultdict(list)
            while sum(map(len, by_sender.values())) < clients * per_client:
                message = json.loads(await asyncio.wait_for(ws.recv(), 60))  # type: ignore[attr-defined]
                if message["type"] == "message":
                    sender, i = message["text"].split(":")
                    by_sender[sender].append(int(i))
            return by_sender

        listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
        await asyncio.gather(*(talk(n, ws) for n, ws in enumerate(sockets)))
        received = await asyncio.wait_for(asyncio.gather(*listeners), timeout=120)

        async def leave(ws: object) -> None:
            # Keep reading the others' leave notices, or flow control stalls the close.
            async def drain() -> None:
                with contextlib.suppress(Exception):
                    async for _ in ws:  # type: ignore[attr-defined]
                        pass

            reader = asyncio.create_task(drain())
            await ws.close()  # type: ignore[attr-defined]
            await reader

        await asyncio.wait_for(asyncio.gather(*(leave(ws) for ws in sockets)), timeout=60)
    expected = {str(n): list(range(per_client)) for n in range(clients)}
    assert all(dict(r) == expected for r in received)  # all 5,000, in order per sender
