"""Yaat: a small ASGI toolkit built around WebSockets.

>>> from yaat import Yaat
>>> app = Yaat()
>>> @app.websocket_route("/ws")
... async def ws_handler(websocket):
...     await websocket.accept()
...     await websocket.send_text("Hello")
...     await websocket.close()
"""

from yaat.app import Yaat
from yaat.constants import WebSocketCloseEvent
from yaat.protocol import WebSocketState
from yaat.pubsub import MemoryPubSub, PubSub, PubSubUnavailable, RedisPubSub
from yaat.requests import HTTPConnection, Request
from yaat.responses import HTMLResponse, JSONResponse, Response, TextResponse
from yaat.rooms import Member, Rooms
from yaat.routing import Router
from yaat.websockets import (
    ASGISpecVersionError,
    WebSocket,
    WebSocketDecodeError,
    WebSocketDisconnect,
    WebSocketEncodeError,
    WebSocketMessageTypeError,
    WebSocketStateError,
)

__version__ = "0.1.0"

__all__ = [
    "ASGISpecVersionError",
    "HTMLResponse",
    "HTTPConnection",
    "JSONResponse",
    "Member",
    "MemoryPubSub",
    "PubSub",
    "PubSubUnavailable",
    "RedisPubSub",
    "Request",
    "Response",
    "Rooms",
    "Router",
    "TextResponse",
    "WebSocket",
    "WebSocketCloseEvent",
    "WebSocketDecodeError",
    "WebSocketDisconnect",
    "WebSocketEncodeError",
    "WebSocketMessageTypeError",
    "WebSocketState",
    "WebSocketStateError",
    "Yaat",
    "__version__",
]
