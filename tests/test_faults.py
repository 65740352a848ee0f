"""Faults: a client that vanishes mid-send, live and in memory."""

from __future__ import annotations

import asyncio
import logging

import pytest
from websockets.asyncio.client import connect

from conftest import serve
from yaat import Yaat
from yaat.websockets import WebSocket, WebSocketDisconnect
from yaat_testing import TestClient


def streaming_app(ended: list[int], finished: asyncio.Event) -> Yaat:
    app = Yaat()

    @app.websocket_route("/stream")
    async def stream(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            while True:
                await websocket.send_bytes(b"x" * 1024)
                await asyncio.sleep(0)
        except WebSocketDisconnect as exc:
            ended.append(exc.code)
            raise
        finally:
            finished.set()

    return app


@pytest.mark.live
async def test_a_client_that_vanishes_live_ends_the_handler_with_1006_and_no_error_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ended: list[int] = []
    finished = asyncio.Event()
    async with serve(streaming_app(ended, finished), log_level="error") as base:
        # uvicorn's loggers do not propagate to the root, where caplog listens.
        server_log = logging.getLogger("uvicorn.error")
        server_log.addHandler(caplog.handler)
        client = await connect(f"{base}/stream", compression=None)
        await client.recv()
        client.transport.abort()  # the TCP connection goes, no close frame
        await asyncio.wait_for(finished.wait(), timeout=10)
        await asyncio.sleep(0.05)  # let uvicorn finish the connection and log, if it would
        server_log.removeHandler(caplog.handler)
    assert ended == [1006]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert asyncio.all_tasks() == {asyncio.current_task()}


@pytest.mark.yaat_memory_only("the harness's own OSError on send is what this checks")
async def test_a_client_that_vanishes_in_memory_raises_oserror_in_send_and_1006_in_yaat() -> None:
    ended: list[int] = []
    finished = asyncio.Event()
    async with TestClient(streaming_app(ended, finished)) as client:
        async with client.websocket_connect("/stream") as ws:
            await ws.receive_bytes()
        # Leaving the block disconnected the client; the app saw OSError on its next send.
        assert finished.is_set()
    assert ended == [1006]
