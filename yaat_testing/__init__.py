"""yaat_testing: test any ASGI app's WebSockets in memory, the way a real server would.

>>> from yaat_testing import TestClient
>>> async def test_hello(app):  # doctest: +SKIP
...     async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
...         assert await ws.receive_text() == "Hello"
"""

from yaat_testing.client import TestClient
from yaat_testing.exceptions import (
    ASGIProtocolError,
    ClientDisconnected,
    ConcurrentReceiveError,
    LifespanFailed,
    LiveModeUnavailable,
    ServerRefused,
    UnexpectedMessage,
    WebSocketDenied,
    WebSocketTimeout,
)
from yaat_testing.profiles import Consequence, ServerProfile
from yaat_testing.rules import Rule, Strict, Violation
from yaat_testing.scope import WebSocketRequest
from yaat_testing.session import Close, WebSocketSession
from yaat_testing.transcript import Transcript, TranscriptEntry
from yaat_testing.transports import (
    Connection,
    LiveTransport,
    MemoryTransport,
    Transport,
)

__all__ = [
    "ASGIProtocolError",
    "ClientDisconnected",
    "Close",
    "ConcurrentReceiveError",
    "Connection",
    "Consequence",
    "LifespanFailed",
    "LiveModeUnavailable",
    "LiveTransport",
    "MemoryTransport",
    "Rule",
    "ServerProfile",
    "ServerRefused",
    "Strict",
    "TestClient",
    "Transcript",
    "TranscriptEntry",
    "Transport",
    "UnexpectedMessage",
    "Violation",
    "WebSocketDenied",
    "WebSocketRequest",
    "WebSocketSession",
    "WebSocketTimeout",
]
