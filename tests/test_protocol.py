"""yaat.protocol: the one table, and the fast paths that skip it agree with it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import yaat.protocol
from yaat.protocol import (
    MESSAGE_TYPES,
    TRANSITIONS,
    Side,
    WebSocketState,
    allowed,
    describe_allowed,
    next_state,
)

CONNECTING, CONNECTED = WebSocketState.CONNECTING, WebSocketState.CONNECTED
RESPONSE, DISCONNECTED = WebSocketState.RESPONSE, WebSocketState.DISCONNECTED
APPLICATION, CLIENT = Side.APPLICATION, Side.CLIENT


def test_the_table_is_the_asgi_websocket_spec() -> None:
    assert {t: dict(row) for t, row in TRANSITIONS[APPLICATION].items()} == {
        CONNECTING: {
            "websocket.accept": CONNECTED,
            "websocket.close": DISCONNECTED,
            "websocket.http.response.start": RESPONSE,
        },
        CONNECTED: {"websocket.send": CONNECTED, "websocket.close": DISCONNECTED},
        RESPONSE: {"websocket.http.response.body": DISCONNECTED},
        DISCONNECTED: {},
    }
    assert {t: dict(row) for t, row in TRANSITIONS[CLIENT].items()} == {
        CONNECTING: {"websocket.connect": CONNECTED, "websocket.disconnect": DISCONNECTED},
        CONNECTED: {"websocket.receive": CONNECTED, "websocket.disconnect": DISCONNECTED},
        DISCONNECTED: {},
    }
    assert MESSAGE_TYPES[CLIENT] == {
        "websocket.connect",
        "websocket.receive",
        "websocket.disconnect",
    }


def test_the_table_cannot_be_changed_at_run_time() -> None:
    with pytest.raises(TypeError, match="does not support item assignment"):
        TRANSITIONS[APPLICATION][CONNECTED]["websocket.accept"] = CONNECTED  # type: ignore[index]


@pytest.mark.parametrize("side", list(Side))
def test_every_transition_leads_to_a_state_of_the_same_side(side: Side) -> None:
    for row in TRANSITIONS[side].values():
        assert set(row.values()) <= set(TRANSITIONS[side])


def test_a_denial_body_with_more_body_stays_in_response() -> None:
    body = {"type": "websocket.http.response.body", "body": b"x"}
    assert next_state(APPLICATION, RESPONSE, {**body, "more_body": True}) is RESPONSE
    assert next_state(APPLICATION, RESPONSE, body) is DISCONNECTED


@pytest.mark.parametrize("message_type", [None, 3, "websocket.sendd", "lifespan.startup"])
def test_unknown_types_lead_nowhere(message_type: object) -> None:
    for side in Side:
        for state in TRANSITIONS[side]:
            assert next_state(side, state, {"type": message_type}) is None


def test_allowed_messages_are_derived_from_the_table() -> None:
    assert allowed(APPLICATION, CONNECTED) == ("websocket.close", "websocket.send")
    assert describe_allowed(APPLICATION, CONNECTING) == (
        "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'"
    )
    assert describe_allowed(APPLICATION, RESPONSE) == "'websocket.http.response.body'"
    assert describe_allowed(CLIENT, DISCONNECTED) == "nothing"


def test_the_fast_paths_of_yaat_websocket_agree_with_the_table() -> None:
    # WebSocket._send_data sends a data frame while CONNECTED without a lookup, and
    # WebSocket._receive_data takes a websocket.receive while CONNECTED without one:
    # both are right only because the table keeps those states where they are.
    send = {"type": "websocket.send", "text": "x"}
    assert next_state(APPLICATION, CONNECTED, send) is CONNECTED
    assert next_state(APPLICATION, CONNECTED, {**send, "text": None, "bytes": b"x"}) is CONNECTED
    assert next_state(CLIENT, CONNECTED, {"type": "websocket.receive", "text": "x"}) is CONNECTED
    for state in (CONNECTING, RESPONSE, DISCONNECTED):
        assert next_state(APPLICATION, state, send) is None


def test_the_protocol_does_no_io() -> None:
    tree = ast.parse(Path(yaat.protocol.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
    } | {
        (node.module or "").split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
    }
    assert imported <= {"__future__", "enum", "collections", "types", "typing"}, imported
