"""yaat_testing.rules: every rule, alone and as a test sees it (in memory and live)."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.test_memory import ACCEPT, sending
from yaat.protocol import MESSAGE_TYPES, Side, WebSocketState, next_state
from yaat.types import Message, Receive, Scope, Send
from yaat_testing import ASGIProtocolError, TestClient
from yaat_testing.rules import (
    ILLEGAL,
    RULES,
    STATE_RULES,
    Facts,
    Strict,
    check_end,
    check_lifespan_send,
    check_receive,
    check_return,
    check_send,
)

APP_TYPES = sorted(MESSAGE_TYPES[Side.APPLICATION])


# -- the rules alone --------------------------------------------------------------------


@pytest.mark.parametrize("state", list(WebSocketState))
@pytest.mark.parametrize("message_type", APP_TYPES)
def test_every_message_the_table_refuses_breaks_one_named_rule(
    state: WebSocketState, message_type: str
) -> None:
    message = {"type": message_type, "status": 403, "body": b"", "text": "x"}
    found = check_send(Facts(state), message)
    if next_state(Side.APPLICATION, state, message) is None:
        assert [v.rule for v in found] in ([[rule] for rule, _ in ILLEGAL[state].values()])
        assert found[0].where == f"application state {state.name}"
    else:
        assert all(v.rule not in STATE_RULES for v in found)


def test_every_rule_is_named_summarised_and_sorted() -> None:
    assert list(RULES) == sorted(RULES)
    assert len(RULES) == 26
    for name, rule in RULES.items():
        assert rule.name == name
        assert rule.summary


def test_the_other_events_have_their_own_checks() -> None:
    connected = WebSocketState.CONNECTED
    assert check_receive(connected, saw_disconnect=False) is None
    assert check_receive(connected, saw_disconnect=True).rule == "receive-after-disconnect"  # type: ignore[union-attr]
    assert check_return(connected, None) is None
    assert check_return(connected, 42).rule == "app-return-value"  # type: ignore[union-attr]
    assert check_end(connected) is None
    assert check_end(WebSocketState.RESPONSE).rule == "denial-incomplete"  # type: ignore[union-attr]
    assert check_lifespan_send("startup", {"type": "lifespan.startup.complete"}) is None
    violation = check_lifespan_send("shutdown", {"type": "lifespan.startup.complete"})
    assert violation is not None
    assert violation.where == "lifespan shutdown"


json_like = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5) | st.binary(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
messages = st.one_of(
    json_like,
    st.fixed_dictionaries(
        {"type": st.sampled_from([*APP_TYPES, "websocket.sendd"])},
        optional={
            key: json_like
            for key in ("text", "bytes", "code", "reason", "subprotocol", "headers", "status")
        },
    ),
)


@given(state=st.sampled_from(list(WebSocketState)), message=messages)
def test_checks_are_pure(state: WebSocketState, message: Any) -> None:
    facts = Facts(state, frozenset({"chat"}), denial_extension=False)
    before = copy.deepcopy(message)
    first = check_send(facts, message)
    assert check_send(facts, message) == first
    assert message == before


# -- Strict: which rules are enforced ---------------------------------------------------


def test_strict_takes_rule_names_and_refuses_others() -> None:
    assert Strict.of(True) == Strict()
    assert Strict.of(False).ignore == frozenset(RULES)
    assert not Strict(["close-reason"]).enforces("close-reason")
    assert Strict(["close-reason"]).enforces("close-code")
    assert repr(Strict(["header-name-case", "close-reason"])) == (
        "Strict(ignore=['close-reason', 'header-name-case'])"
    )
    with pytest.raises(
        ValueError, match=r"unknown strict rule\(s\) 'close-raeson'; the rules are: "
    ):
        Strict(["close-raeson"])
    with pytest.raises(TypeError, match=r"ignore takes rule names, e.g. \['close-reason'\]"):
        Strict("close-reason")
    with pytest.raises(TypeError, match=r"strict takes True, False or Strict\(ignore=\[...\]\)"):
        Strict.of("yes")  # type: ignore[arg-type]


# -- strict mode, end to end (in memory and live) -----------------------------------------------------


VIOLATIONS: list[tuple[str, list[Message], str]] = [
    (
        "send-before-accept",
        [{"type": "websocket.send", "text": "x"}],
        r"\[send-before-accept\] websocket.send before the handshake completed \(application state CONNECTING\): send 'websocket.accept'",
    ),
    (
        "message-after-close",
        [ACCEPT, {"type": "websocket.close"}, {"type": "websocket.send", "text": "x"}],
        r"\[message-after-close\] websocket.send after the connection was closed \(application state DISCONNECTED\)",
    ),
    (
        "double-accept",
        [ACCEPT, ACCEPT],
        r"\[double-accept\] websocket.accept sent twice \(application state CONNECTED\): accept once",
    ),
    (
        "text-and-bytes",
        [ACCEPT, {"type": "websocket.send", "text": "x", "bytes": b"x"}],
        r"\[text-and-bytes\] websocket.send has both 'text' and 'bytes'",
    ),
    (
        "neither",
        [ACCEPT, {"type": "websocket.send"}],
        r"\[neither-text-nor-bytes\] websocket.send has neither 'text' nor 'bytes'",
    ),
    (
        "text-type",
        [ACCEPT, {"type": "websocket.send", "text": b"x"}],
        r"\[send-text-type\] websocket.send 'text' is bytes",
    ),
    (
        "bytes-type",
        [ACCEPT, {"type": "websocket.send", "bytes": "x"}],
        r"\[send-bytes-type\] websocket.send 'bytes' is str",
    ),
    (
        "lone-surrogate",
        [ACCEPT, {"type": "websocket.send", "text": "é\ud800"}],
        r"\[send-text-encoding\] websocket.send 'text' has '\\ud800' at index 1, a lone "
        "surrogate UTF-8 cannot encode",
    ),
    (
        "lone-surrogate-reason",
        [ACCEPT, {"type": "websocket.close", "code": 1000, "reason": "why\udfff"}],
        r"\[close-reason\] websocket.close: close reason has '\\udfff' at index 3",
    ),
    (
        "reserved-code",
        [ACCEPT, {"type": "websocket.close", "code": 1006}],
        r"\[close-code\] websocket.close: close code 1006 is reserved for reading",
    ),
    (
        "code-range",
        [ACCEPT, {"type": "websocket.close", "code": 2000}],
        r"\[close-code\] websocket.close: close code 2000 is outside the ranges RFC 6455 §7.4 allows",
    ),
    (
        "long-reason",
        [ACCEPT, {"type": "websocket.close", "code": 1000, "reason": "x" * 124}],
        r"\[close-reason\] websocket.close: close reason is 124 UTF-8 bytes",
    ),
    (
        "subprotocol",
        [{"type": "websocket.accept", "subprotocol": "mqtt"}],
        r"\[subprotocol-not-offered\] websocket.accept chose subprotocol 'mqtt'; the client offered \[\]",
    ),
    (
        "unknown-type",
        [{"type": "websocket.sendd", "text": "x"}],
        r"\[unknown-message-type\] send\(\) got message type 'websocket.sendd' \(application state CONNECTING\): send one of 'websocket.accept'",
    ),
    ("not-a-dict", [["websocket.accept"]], r"\[message-not-a-dict\] send\(\) got list"),  # type: ignore[list-item]
    (
        "denial-after-accept",
        [ACCEPT, {"type": "websocket.http.response.start", "status": 403}],
        r"\[denial-after-accept\] websocket.http.response.start after websocket.accept",
    ),
    (
        "body-before-start",
        [{"type": "websocket.http.response.body", "body": b""}],
        r"\[body-before-start\]",
    ),
    (
        "denial-incomplete",
        [{"type": "websocket.http.response.start", "status": 403}, {"type": "websocket.close"}],
        r"\[denial-incomplete\] websocket.close in the middle of a denial response",
    ),
    (
        "status",
        [{"type": "websocket.http.response.start", "status": 99}],
        r"\[response-status\] websocket.http.response.start: HTTP status 99 is outside 100-599",
    ),
    (
        "body-type",
        [
            {"type": "websocket.http.response.start", "status": 403},
            {"type": "websocket.http.response.body", "body": "x"},
        ],
        r"\[response-body-type\] websocket.http.response.body body is str",
    ),
    (
        "header-type",
        [{"type": "websocket.accept", "headers": [("x-a", "1")]}],
        r"\[header-type\] websocket.accept headers must be an iterable of \[name, value\] byte pairs",
    ),
    (
        "header-case",
        [{"type": "websocket.accept", "headers": [(b"X-A", b"1")]}],
        r"\[header-name-case\] websocket.accept header name b'X-A' is not lowercase",
    ),
    (
        "protocol-header",
        [{"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"x")]}],
        r"\[accept-subprotocol-header\]",
    ),
    (
        "subprotocol-type",
        [{"type": "websocket.accept", "subprotocol": 1}],
        r"\[accept-subprotocol-type\]",
    ),
]


@pytest.mark.parametrize(("rule", "messages", "match"), VIOLATIONS, ids=[v[0] for v in VIOLATIONS])
async def test_strict_mode_names_the_rule_state_and_fix(
    rule: str, messages: list[Message], match: str
) -> None:
    raised_in_app: list[BaseException] = []
    inner = sending(*messages)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await inner(scope, receive, send)
        except ASGIProtocolError as exc:
            raised_in_app.append(exc)
            raise

    async with TestClient(app) as client:
        with pytest.raises(ASGIProtocolError, match=match) as caught:
            async with client.websocket_connect("/") as ws:
                await ws.receive()
                await ws.receive()
    assert isinstance(caught.value, RuntimeError)
    assert raised_in_app == [caught.value]  # raised inside send(), as uvicorn does


async def test_a_violation_the_app_swallows_still_reaches_the_test() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        with contextlib.suppress(ASGIProtocolError):
            await send({"type": "websocket.send", "text": "a", "bytes": b"b"})
        await send({"type": "websocket.send", "text": "after"})
        await receive()

    async with TestClient(app) as client:
        with pytest.raises(ASGIProtocolError, match="text-and-bytes"):
            async with client.websocket_connect("/") as ws:
                await ws.receive_text()


@pytest.mark.yaat_memory_only("live servers advertise websocket.http.response themselves")
async def test_denial_without_the_extension_is_a_violation() -> None:
    app = sending({"type": "websocket.http.response.start", "status": 403})
    async with TestClient(app, denial_response=False) as client:
        with pytest.raises(
            ASGIProtocolError,
            match=r"\[denial-without-extension\].*check scope\['extensions'\] first",
        ):
            async with client.websocket_connect("/"):
                pass


async def test_receive_after_disconnect_is_a_violation() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await receive()  # the disconnect
        await receive()

    async with TestClient(app) as client:
        with pytest.raises(ASGIProtocolError, match=r"\[receive-after-disconnect\]"):
            async with client.websocket_connect("/"):
                pass


async def test_an_app_returning_a_value_is_a_violation() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> Any:
        await receive()
        await send(ACCEPT)
        await send({"type": "websocket.close"})
        return 42

    async with TestClient(app) as client:
        with pytest.raises(ASGIProtocolError, match=r"\[app-return-value\] the app returned 42"):
            async with client.websocket_connect("/") as ws:
                await ws.receive_close()


def test_every_rule_has_its_anchor_in_the_docs() -> None:
    import re
    from pathlib import Path

    import markdown

    from yaat_testing.exceptions import RULES_PAGE

    page = (Path(__file__).resolve().parent.parent / RULES_PAGE).read_text(encoding="utf-8")
    # Rendered as MkDocs renders it (Python-Markdown's toc): each rule is an anchor.
    anchors = set(re.findall(r'id="([^"]+)"', markdown.markdown(page, extensions=["toc"])))
    assert sorted(set(RULES) - anchors) == []
    error = ASGIProtocolError("close-code", "p", "w", "f")
    assert str(error).endswith(f"see {RULES_PAGE}#close-code")
