"""Apps that real server processes import, for the scenarios a signal ends (SIGTERM).

What the app sees is written, one JSON line per item, to the file the environment
variable ``YAAT_FIDELITY_SAW`` names: the process shares no memory with the test.
"""

from __future__ import annotations

import json
import os
from typing import Any

from yaat.types import Receive, Scope, Send


def _saw(item: Any) -> None:
    with open(os.environ["YAAT_FIDELITY_SAW"], "a", encoding="utf-8") as file:
        file.write(json.dumps(item) + "\n")


async def client_closes(scope: Scope, receive: Receive, send: Send) -> None:
    """Accept, then note the disconnect that comes (or nothing, if it never does)."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    if scope["type"] != "websocket":
        return
    await receive()
    await send({"type": "websocket.accept"})
    message = await receive()
    _saw([message["type"], message.get("code"), message.get("reason")])
