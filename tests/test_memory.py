"""yaat_testing.transports.memory: the server it plays, and every ASGI rule it enforces."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from yaat.types import Message, Receive, Scope, Send
from yaat.websockets import WebSocketDisconnect
from yaat_testing import ASGIProtocolError, TestClient, WebSocketDenied

RawApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def sending(*messages: Message, connect: bool = True) -> RawApp:
    """A raw ASGI app that sends *messages* in order, then waits for the disconnect."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if connect:
            assert (await receive())["type"] == "websocket.connect"
        for message in messages:
            await send(message)
        if any(m.get("type") == "websocket.accept" for m in messages):
            while (await receive())["type"] != "websocket.disconnect":
                pass

    return app


ACCEPT: Message = {"type": "websocket.accept"}


async def test_client_headers_subprotocols_and_cookies_reach_the_app() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.update(headers=dict(scope["headers"]), subprotocols=scope["subprotocols"])
        await receive()
        await send({"type": "websocket.accept", "subprotocol": "b"})
        await receive()

    async with (
        TestClient(app, headers={"X-Default": "d"}, cookies={"a": "1"}) as client,
        client.websocket_connect(
            "/", subprotocols=["a", "b"], headers={"X-Call": "c"}, cookies={"b": "x y"}
        ) as ws,
    ):
        assert ws.subprotocol == "b"
    assert seen["subprotocols"] == ["a", "b"]
    assert seen["headers"][b"x-default"] == b"d"
    assert seen["headers"][b"x-call"] == b"c"
    assert seen["headers"][b"cookie"] == b'a=1; b="x y"'


# -- strict mode: every violation -----------------------------------------------------


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


# -- non-strict mode behaves as uvicorn does ------------------------------------------


async def test_non_strict_text_and_bytes_delivers_the_bytes_and_neither_delivers_nothing() -> None:
    app = sending(
        ACCEPT,
        {"type": "websocket.send", "text": "t", "bytes": b"b"},
        {"type": "websocket.send"},
        {"type": "websocket.send", "text": "last"},
    )
    async with TestClient(app, strict=False) as client, client.websocket_connect("/") as ws:
        assert await ws.receive_bytes() == b"b"
        assert await ws.receive_text() == "last"


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "websocket.close", "code": 1005},
        {"type": "websocket.close", "code": 1000, "reason": "x" * 200},
        {"type": "websocket.send", "text": b"x"},
    ],
)
async def test_non_strict_mistakes_uvicorn_fails_on_drop_the_connection(bad: Message) -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        try:
            await send(bad)
        except Exception as exc:  # ASGIProtocolError here, uvicorn's own error live
            errors.append(exc)

    async with TestClient(app, strict=False) as client, client.websocket_connect("/") as ws:
        assert await ws.receive_close() == (1006, "")
    assert len(errors) == 1


async def test_non_strict_state_violations_still_raise_in_send_as_uvicorn_does() -> None:
    app = sending({"type": "websocket.send", "text": "early"})
    async with TestClient(app, strict=False) as client:
        # In memory: ASGIProtocolError [send-before-accept]; live: uvicorn's RuntimeError.
        with pytest.raises(RuntimeError, match=r"websocket\.send|'websocket\.accept'"):
            async with client.websocket_connect("/"):
                pass
    async with TestClient(app, strict=False, raise_app_exceptions=False) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 500"):
            async with client.websocket_connect("/"):
                pass


async def test_non_strict_unoffered_subprotocol_fails_the_client_handshake() -> None:
    app = sending({"type": "websocket.accept", "subprotocol": "mqtt"})
    async with TestClient(app, strict=False) as client:
        with pytest.raises(ASGIProtocolError, match="the client failed the handshake"):
            async with client.websocket_connect("/", subprotocols=["chat"]):
                pass


async def test_non_strict_uppercase_accept_headers_are_lowercased() -> None:
    app = sending({"type": "websocket.accept", "headers": [(b"X-A", b"1")]})
    async with TestClient(app, strict=False) as client, client.websocket_connect("/") as ws:
        assert ws.accept_headers.raw == [(b"x-a", b"1")]


# -- what the app sees ----------------------------------------------------------------


async def test_the_app_sees_its_own_close_echoed_as_a_disconnect() -> None:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await send({"type": "websocket.close", "code": 4000, "reason": "r"})
        seen.append(await receive())

    async with TestClient(app) as client, client.websocket_connect("/") as ws:
        assert await ws.receive_close() == (4000, "r")
    assert seen == [{"type": "websocket.disconnect", "code": 4000, "reason": "r"}]


async def test_a_close_before_accept_is_echoed_as_1006_to_the_app() -> None:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send({"type": "websocket.close"})
        seen.append(await receive())

    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match="403"):
            async with client.websocket_connect("/"):
                pass
    assert seen == [{"type": "websocket.disconnect", "code": 1006}]


async def test_a_send_after_the_client_left_raises_an_oserror_in_the_app() -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await receive()  # the client's disconnect
        try:
            await send({"type": "websocket.send", "text": "late"})
        except OSError as exc:
            errors.append(exc)

    async with TestClient(app) as client, client.websocket_connect("/") as ws:
        await ws.close()
    assert len(errors) == 1
    assert isinstance(errors[0], OSError)  # ClientDisconnected in memory, uvicorn's own live


async def test_the_app_may_close_before_receiving_connect() -> None:
    app = sending({"type": "websocket.close"}, connect=False)
    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match="403"):
            async with client.websocket_connect("/"):
                pass


async def test_client_messages_carry_one_of_text_or_bytes() -> None:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        seen.extend([await receive(), await receive()])
        await send({"type": "websocket.close"})

    async with TestClient(app) as client, client.websocket_connect("/") as ws:
        await ws.send_text("t")
        await ws.send_bytes(b"b")
        with pytest.raises(WebSocketDisconnect, match="1000"):
            await ws.receive_text()
    assert seen == [
        {"type": "websocket.receive", "text": "t"},
        {"type": "websocket.receive", "bytes": b"b"},
    ]
