"""The WebSocket tests of other projects that fail with yaat_testing's drop-in, and why.

``scripts/upstream_tests.py`` runs the suites of ``tests/upstream/suites.py`` with the
import line changed; every test that passes with Starlette's client must pass with the
drop-in, except those below (``suite:test id``), each of which asserts what no real server
does, or breaks an ASGI rule the drop-in enforces.
"""

from __future__ import annotations

#: Why a test app that accepts with a header name in capitals fails here.
_HEADER_NAME_CASE = (
    "the app accepts with a header name in capitals (b'X-Test', b'Regex-Test-Header-1'), "
    "which the ASGI spec forbids (header names must be lowercased). Every server here "
    "lowercases it and the client sees no difference, so this is strictness, not fidelity: "
    "ASGIProtocolError [header-name-case], which yaat_strict_ignore = header-name-case (or "
    "TestClient(strict=Strict(ignore=['header-name-case']))) turns off."
)

#: Starlette's own tests that fail here, run on both of its backends (the suites
#: ``starlette`` and ``starlette-trio``): test id without its parameter -> why.
_STARLETTE: dict[str, str] = {
    "tests/test_testclient.py::test_websocket_not_block_on_close": (
        "asserts that the app is cancelled as soon as the client leaves. No server cancels "
        "a handler that ignores the disconnect: uvicorn lets it run until shutdown. The "
        "harness waits for it (bounded by the timeout), cancels it, and raises "
        "WebSocketTimeout saying the app ignored the disconnect."
    ),
    "tests/test_websockets.py::test_receive_before_accept": (
        "makes the client send a 'websocket.send' message. No client can make a server "
        "deliver one: servers deliver only 'websocket.receive' and 'websocket.disconnect'. "
        "The session refuses it with a ValueError that says so."
    ),
    "tests/test_websockets.py::test_receive_wrong_message_type": (
        "makes the client send a second 'websocket.connect', which no server delivers; "
        "refused as above."
    ),
    "tests/test_websockets.py::test_websocket_headers": (
        "asserts the handshake headers Starlette's client invents ('sec-websocket-key: "
        "testserver==', not a valid key, and no 'upgrade' header). The harness sends what a "
        "real client sends: 'upgrade: websocket', 'connection: Upgrade' and a base64 key."
    ),
    "tests/test_routing.py::test_websocket_route_middleware": _HEADER_NAME_CASE,
    "tests/test_websockets.py::test_websocket_concurrency_pattern": (
        "the app closes after the client has left (its reader ends, then its writer, then "
        "close()). On uvicorn, both implementations, that close raises: the app fails with "
        "WebSocketDisconnect, live in 10 of 10 runs (uvicorn 0.55, websockets 17.4 client), "
        "and so does the drop-in, which shows uvicorn. hypercorn, daphne and granian ignore "
        "the late close, live and in memory."
    ),
}

#: The suites' GraphQL servers over starlette-graphene3: every WebSocket test passes the
#: subprotocol as a str.
_GRAPHENE3 = [
    "test_connection_params",
    "test_immediate_disconnect",
    "test_invalid_value",
    "test_named_subscription",
    "test_query_over_ws",
    "test_query_over_ws_error",
    "test_query_over_ws_with_variables_and_opname",
    "test_single_subscription",
    "test_single_subscription_broken",
    "test_single_subscription_error1",
    "test_single_subscription_error2",
    "test_single_subscription_invalid_query",
    "test_stop",
    "test_subscribe_then_disconnect",
]

#: opentelemetry-instrumentation-fastapi's tests whose app accepts with header names in
#: capitals.
_OTEL = [
    f"{module}::TestWebSocketAppWithCustomHeaders::test_web_socket_custom_{side}_headers_"
    f"{where}_span_attributes"
    for module in (
        "tests/test_fastapi_instrumentation.py",
        "tests/test_fastapi_instrumentation_custom_headers.py",
    )
    for side in ("request", "response")
    for where in ("in", "not_in")
]

#: "suite:test id" -> why it fails here: what it asserts that no real server does.
DIFFERENCES: dict[str, str] = {
    **{f"starlette:{test}[asyncio]": why for test, why in _STARLETTE.items()},
    **{f"starlette-trio:{test}[trio]": why for test, why in _STARLETTE.items()},
    **{
        f"starlette-graphene3:tests/test_websocket.py::{test}": (
            "calls websocket_connect('/', 'graphql-ws'): a str where the list of "
            "subprotocols belongs. Starlette's client offers its characters; a real client "
            "refuses it (the websockets client raises TypeError: subprotocols must be a "
            "list). The drop-in raises a TypeError naming the argument and the fix."
        )
        for test in _GRAPHENE3
    },
    **{f"otel-fastapi:{test}": _HEADER_NAME_CASE for test in _OTEL},
}
