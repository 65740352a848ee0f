"""An app for ``yaat run`` at SIGTERM: it echoes, floods on request, and its
``on_shutdown`` writes the file ``YAAT_TEST_SHUTDOWN_MARK`` names."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from yaat import WebSocket, Yaat


def mark_shutdown() -> None:
    Path(os.environ["YAAT_TEST_SHUTDOWN_MARK"]).write_text("on_shutdown ran")


app = Yaat(on_shutdown=[mark_shutdown])


@app.websocket_route("/ws")
async def echo(websocket: WebSocket) -> None:
    await websocket.accept()
    async for text in websocket.iter_text():
        if text == "flood":  # more than a client that never reads can hold
            for _ in range(10_000):
                await websocket.send_text("x" * 1000)
        else:
            await websocket.send_text(text)


@app.websocket_route("/stubborn")
async def stubborn(websocket: WebSocket) -> None:
    """A handler that does not end when its client leaves: it sleeps on."""
    await websocket.accept()
    try:
        await websocket.receive_text()
    finally:
        await asyncio.sleep(3600)
