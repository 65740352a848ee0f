"""examples/chat.py: rooms, join and leave notices, JSON messages, the page."""

from __future__ import annotations

import pytest

from examples.chat import app, rooms
from yaat_testing import TestClient


@pytest.fixture(autouse=True)
def empty_rooms() -> None:
    rooms.members.clear()


async def test_the_page_is_served() -> None:
    async with TestClient(app) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert "new WebSocket(" in response.text


async def test_members_of_a_room_see_joins_messages_and_leaves() -> None:
    async with TestClient(app) as client:
        async with client.websocket_connect("/ws/blue?name=ada") as ada:
            assert await ada.receive_json() == {"type": "join", "name": "ada", "room": "blue"}
            async with client.websocket_connect("/ws/blue?name=bob") as bob:
                assert await bob.receive_json() == {"type": "join", "name": "bob", "room": "blue"}
                assert await ada.receive_json() == {"type": "join", "name": "bob", "room": "blue"}
                await bob.send_json({"text": "hi ada"})
                expected = {"type": "message", "name": "bob", "text": "hi ada"}
                assert await ada.receive_json() == expected
                assert await bob.receive_json() == expected
            assert await ada.receive_json() == {"type": "leave", "name": "bob", "room": "blue"}
    assert rooms.members == {}


async def test_rooms_are_separate() -> None:
    async with TestClient(app) as client:
        async with client.websocket_connect("/ws/a") as a, client.websocket_connect("/ws/b") as b:
            await a.receive_json()
            await b.receive_json()
            await a.send_json({"text": "only a"})
            assert (await a.receive_json())["text"] == "only a"
            await b.assert_nothing_received(within=0.02)


async def test_bad_messages_close_with_a_reason() -> None:
    async with TestClient(app) as client:
        async with client.websocket_connect("/ws/a") as ws:
            await ws.receive_json()
            await ws.send_text("not json")
            assert await ws.receive_close() == (1003, "send JSON")
        async with client.websocket_connect("/ws/a") as ws:
            await ws.receive_json()
            await ws.send_json({"text": 5})
            assert await ws.receive_close() == (1008, "bad message")
