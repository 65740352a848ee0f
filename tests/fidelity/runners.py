"""Run a scenario the ways a client can: in memory, and on uvicorn with ``websockets``."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlsplit

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from conftest import serve
from tests.fidelity.scenarios import Outcome, Scenario
from yaat.websockets import WebSocketDisconnect
from yaat_testing import ASGIProtocolError, TestClient, WebSocketDenied

TIMEOUT = 5.0


async def in_memory(scenario: Scenario) -> Outcome:
    """The harness as a user would run it to see what a client sees: not strict, not raising."""
    seen: list[object] = []
    app = scenario.make_app(seen)
    async with TestClient(app, raise_app_exceptions=False, strict=False, live=False) as client:
        try:
            async with client.websocket_connect(
                scenario.path, subprotocols=scenario.subprotocols, headers=scenario.headers
            ) as ws:
                outcome = Outcome(
                    "accepted",
                    subprotocol=ws.subprotocol,
                    accept_header=ws.accept_headers.get("x-a"),
                )
                for action in scenario.actions:
                    if action[0] == "close":
                        await ws.close(action[1], action[2])
                        break
                    with contextlib.suppress(WebSocketDisconnect):  # the app may have closed
                        await (
                            ws.send_text(action[1])
                            if action[0] == "text"
                            else ws.send_bytes(action[1])
                        )
                while True:
                    message = await ws.receive(timeout=TIMEOUT)
                    if message["type"] == "websocket.close":
                        outcome.close = (message["code"], message["reason"])
                        break
                    kind = "text" if message.get("text") is not None else "bytes"
                    outcome.messages.append((kind, message[kind]))
        except WebSocketDenied as denied:
            outcome = Outcome("denied", status=denied.status_code, body=denied.body)
        except (ASGIProtocolError, WebSocketDisconnect):  # the client failed the handshake
            outcome = Outcome("handshake-failed")
    outcome.app_saw = seen
    return outcome


async def on_uvicorn(scenario: Scenario, ws: str = "websockets-sansio") -> Outcome:
    """The truth: uvicorn (with its *ws* implementation) and the ``websockets`` client."""
    seen: list[object] = []
    app = scenario.make_app(seen)
    async with serve(app, ws=ws) as base:
        port = urlsplit(base).port
        try:
            async with connect(
                f"ws://testserver{scenario.path}",  # the Host the in-memory client sends
                host="127.0.0.1",
                port=port,
                subprotocols=[Subprotocol(s) for s in scenario.subprotocols] or None,
                additional_headers=scenario.headers,
                max_size=None,
                compression=None,
                open_timeout=TIMEOUT,
                close_timeout=TIMEOUT,
            ) as client:
                outcome = Outcome(
                    "accepted",
                    subprotocol=client.subprotocol,
                    accept_header=client.response.headers.get("x-a"),
                )
                for action in scenario.actions:
                    if action[0] == "close":
                        await client.close(action[1], action[2])
                        break
                    with contextlib.suppress(ConnectionClosed):
                        await client.send(action[1])
                try:
                    while True:
                        data = await asyncio.wait_for(client.recv(), TIMEOUT)
                        outcome.messages.append(
                            ("text" if isinstance(data, str) else "bytes", data)
                        )
                except ConnectionClosed as closed:
                    received = closed.rcvd
                    outcome.close = (
                        (1006, "") if received is None else (received.code, received.reason)
                    )
        except InvalidStatus as rejected:
            outcome = Outcome(
                "denied",
                status=rejected.response.status_code,
                body=bytes(rejected.response.body or b""),
            )
        except InvalidHandshake:
            outcome = Outcome("handshake-failed")
    outcome.app_saw = seen
    return outcome
