"""yaat_testing: test any ASGI app's WebSockets in memory, the way a real server would.

>>> from yaat_testing import TestClient
>>> async def test_hello(app):  # doctest: +SKIP
...     async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
...         assert await ws.receive_text() == "Hello"
"""

from yaat_testing.client import TestClient
from yaat_testing.exceptions import (
    ASGIProtocolError,
    LifespanFailed,
    UnexpectedMessage,
    WebSocketDenied,
    WebSocketTimeout,
)
from yaat_testing.session import Close, WebSocketSession
from yaat_testing.transport import (
    ASGIWebSocketTransport,
    ClientDisconnected,
    Transcript,
    WebSocketConnection,
    WebSocketRequest,
    WebSocketTransport,
)

__all__ = [
    "ASGIProtocolError",
    "ASGIWebSocketTransport",
    "ClientDisconnected",
    "Close",
    "LifespanFailed",
    "TestClient",
    "Transcript",
    "UnexpectedMessage",
    "WebSocketConnection",
    "WebSocketDenied",
    "WebSocketRequest",
    "WebSocketSession",
    "WebSocketTimeout",
    "WebSocketTransport",
]
