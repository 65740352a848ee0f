"""Run a scenario the ways a client can: in memory as a server's profile says, and live.

Live is the truth: the scenario's own app, served by the real server (nothing of the
harness in between), and the real ``websockets`` client.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.typing import Subprotocol

from tests.fidelity.scenarios import Outcome, Scenario
from yaat.websockets import WebSocketDisconnect
from yaat_testing import ASGIProtocolError, TestClient, WebSocketDenied, WebSocketTimeout
from yaat_testing.servers import SERVERS

#: How long a client waits for the server before it records "nothing came".
TIMEOUT = 8.0
#: The same in memory, where nothing is on its way once the loop is idle.
MEMORY_TIMEOUT = 1.0


async def in_memory(scenario: Scenario, server: str = "uvicorn") -> Outcome:
    """The harness as a user runs it to see what a client sees: not strict, not raising."""
    seen: list[object] = []
    app = scenario.make_app(seen)
    started = time.monotonic()
    async with TestClient(
        app, raise_app_exceptions=False, strict=False, live=False, server=server, timeout=TIMEOUT
    ) as client:
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
                    if action[0] == "shutdown":
                        await client.shutdown(grace=0.2)
                        break
                    if action[0] == "drop":
                        await ws.drop()
                        outcome.close = (1006, "")
                        break
                    if action[0] == "receive":
                        message = await ws.receive(timeout=MEMORY_TIMEOUT)
                        kind = "text" if message.get("text") is not None else "bytes"
                        outcome.messages.append((kind, message[kind]))
                        continue
                    with contextlib.suppress(WebSocketDisconnect):  # the app may have closed
                        await (
                            ws.send_text(action[1])
                            if action[0] == "text"
                            else ws.send_bytes(action[1])
                        )
                try:
                    while outcome.close is None:
                        message = await ws.receive(timeout=MEMORY_TIMEOUT)
                        if message["type"] == "websocket.close":
                            outcome.close = (message["code"], message["reason"])
                            break
                        kind = "text" if message.get("text") is not None else "bytes"
                        outcome.messages.append((kind, message[kind]))
                except WebSocketTimeout:
                    pass  # nothing came: the client leaves, as the live client does
        except WebSocketDenied as denied:
            outcome = Outcome("denied", status=denied.status_code, body=denied.body)
        except (ASGIProtocolError, WebSocketDisconnect):  # the client failed the handshake
            outcome = Outcome("handshake-failed")
        except WebSocketTimeout:
            outcome.close = None  # nothing came: the connection is never closed
    outcome.app_saw = seen
    outcome.seconds = time.monotonic() - started
    return outcome


async def live(scenario: Scenario, server: str = "uvicorn") -> Outcome:
    """The truth: the real *server* and the ``websockets`` client."""
    if scenario.process_app is not None:
        from tests.fidelity.processes import by_signal

        return await by_signal(scenario, server, TIMEOUT)
    seen: list[object] = []
    app = scenario.make_app(seen)
    serving = SERVERS[server](app, lifespan="auto", root_path="", timeout=TIMEOUT)
    await serving.start()
    started = time.monotonic()
    try:
        outcome = await _as_a_client(scenario, serving)
        await _settled(seen, scenario.settle)  # what the app does as its connection ends
    finally:
        with contextlib.suppress(Exception):
            await serving.stop()
    outcome.app_saw = seen
    outcome.seconds = time.monotonic() - started
    return outcome


async def _settled(seen: list[object], within: float) -> None:
    """Wait until what the app saw has not changed for a tenth of a second, or *within*."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    before = len(seen)
    quiet_since = loop.time()
    while loop.time() < deadline:
        await asyncio.sleep(0.02)
        if len(seen) != before:
            before, quiet_since = len(seen), loop.time()
        elif loop.time() - quiet_since >= 0.1 and within <= 0.3:
            return


async def _as_a_client(scenario: Scenario, serving: Any) -> Outcome:
    try:
        async with connect(
            f"ws://testserver{scenario.path}",  # the Host the in-memory client sends
            host="127.0.0.1",
            port=serving.port,
            subprotocols=[Subprotocol(s) for s in scenario.subprotocols] or None,
            additional_headers=scenario.headers,
            max_size=None,
            compression=None,
            open_timeout=TIMEOUT,
            close_timeout=TIMEOUT,
            ping_interval=None,
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
                if action[0] == "shutdown":
                    await serving.stop()
                    break
                if action[0] == "receive":
                    data = await asyncio.wait_for(client.recv(), TIMEOUT)
                    outcome.messages.append(("text" if isinstance(data, str) else "bytes", data))
                    continue
                if action[0] == "drop":  # gone without a closing handshake
                    client.transport.abort()
                    outcome.close = (1006, "")
                    await asyncio.sleep(0.2)  # what the app sees of it
                    return outcome
                with contextlib.suppress(ConnectionClosed):
                    await client.send(action[1])
            await read_to_the_end(client, outcome)
    except InvalidStatus as rejected:
        outcome = Outcome(
            "denied",
            status=rejected.response.status_code,
            body=bytes(rejected.response.body or b""),
        )
    except InvalidHandshake:
        outcome = Outcome("handshake-failed")
    except TimeoutError:
        outcome = Outcome("no-handshake")  # the server never answered
    return outcome


async def read_to_the_end(client: ClientConnection, outcome: Outcome) -> None:
    try:
        while True:
            data = await asyncio.wait_for(client.recv(), TIMEOUT)
            outcome.messages.append(("text" if isinstance(data, str) else "bytes", data))
    except ConnectionClosed as closed:
        received = closed.rcvd
        outcome.close = (1006, "") if received is None else (int(received.code), received.reason)
    except TimeoutError:
        outcome.close = None  # nothing came: the connection is never closed
