"""The WebSocket tests of other projects that fail with yaat_testing's drop-in, and why.

``scripts/upstream_tests.py`` runs the suites of ``tests/upstream/suites.py`` with the
import line changed; every WebSocket test that passes with Starlette's client must pass
with the drop-in, except those below (``suite:test id``), each of which asserts what no
real server does.
"""

from __future__ import annotations

#: "suite:test id" -> why it fails here: what it asserts that no real server does.
DIFFERENCES: dict[str, str] = {
    "starlette:tests/test_testclient.py::test_websocket_not_block_on_close[asyncio]": (
        "asserts that the app is cancelled as soon as the client leaves. No server cancels "
        "a handler that ignores the disconnect: uvicorn lets it run until shutdown. The "
        "harness waits for it (bounded by the timeout), cancels it, and raises "
        "WebSocketTimeout saying the app ignored the disconnect."
    ),
    "starlette:tests/test_websockets.py::test_receive_before_accept[asyncio]": (
        "makes the client send a 'websocket.send' message. No client can make a server "
        "deliver one: servers deliver only 'websocket.receive' and 'websocket.disconnect'. "
        "The session refuses it with a ValueError that says so."
    ),
    "starlette:tests/test_websockets.py::test_receive_wrong_message_type[asyncio]": (
        "makes the client send a second 'websocket.connect', which no server delivers; "
        "refused as above."
    ),
    "starlette:tests/test_websockets.py::test_websocket_headers[asyncio]": (
        "asserts the handshake headers Starlette's client invents ('sec-websocket-key: "
        "testserver==', not a valid key, and no 'upgrade' header). The harness sends what a "
        "real client sends: 'upgrade: websocket', 'connection: Upgrade' and a base64 key."
    ),
}
