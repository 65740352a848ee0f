"""yaat_testing.asgi: ASGI 2 apps run as ASGI 3, as servers run them."""

from __future__ import annotations

import functools
from typing import Any

from yaat.types import Receive, Scope, Send
from yaat_testing import TestClient
from yaat_testing.asgi import as_asgi3, is_asgi3


class Legacy:
    """An ASGI 2 app: the class is called with the scope, the instance is awaited."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, receive: Receive, send: Send) -> None:
        if self.scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": f"legacy {self.scope['path']}"})
            await send({"type": "websocket.close"})


def legacy_function(scope: Scope) -> Any:
    return Legacy(scope)


async def modern(scope: Scope, receive: Receive, send: Send) -> None:
    return None


class Instance:
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        return None


def test_the_interface_is_guessed_as_servers_guess_it() -> None:
    assert not is_asgi3(Legacy)
    assert not is_asgi3(legacy_function)
    assert is_asgi3(modern)
    assert is_asgi3(Instance())
    assert is_asgi3(functools.partial(modern, {}))
    assert as_asgi3(modern) is modern
    assert "Legacy" in as_asgi3(Legacy).__qualname__


async def test_asgi2_apps_are_served() -> None:
    for app in (Legacy, legacy_function):
        async with TestClient(app) as client, client.websocket_connect("/ws") as ws:  # type: ignore[arg-type]
            assert await ws.receive_text() == "legacy /ws"
