"""The public API: each package's ``__all__`` is sorted, complete and pinned."""

from __future__ import annotations

import yaat
import yaat_testing


def test_yaat_exports() -> None:
    assert yaat.__all__ == [
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


def test_yaat_testing_exports() -> None:
    assert yaat_testing.__all__ == [
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


def test_exports_are_sorted_documented_and_defined_in_the_package() -> None:
    for package in (yaat, yaat_testing):
        names = [n for n in package.__all__ if n != "__version__"]
        assert names == sorted(names)
        for name in names:
            member = getattr(package, name)
            assert member.__module__.startswith(package.__name__), name
            assert member.__doc__, f"{package.__name__}.{name} has no docstring"


def test_the_harness_raises_the_server_sides_disconnect() -> None:
    from yaat.websockets import WebSocketDisconnect

    assert yaat.WebSocketDisconnect is WebSocketDisconnect
