"""yaat.websockets, driven by hand-written receive/send coroutines (no server, no harness)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from yaat.constants import WebSocketCloseEvent as WsClose
from yaat.types import Message, Scope
from yaat.websockets import (
    ASGISpecVersionError,
    WebSocket,
    WebSocketDecodeError,
    WebSocketDisconnect,
    WebSocketMessageTypeError,
    WebSocketState,
    WebSocketStateError,
)


class Wire:
    """The server's end of one connection: queued messages in, a list of messages out."""

    def __init__(self, *incoming: Message, send_error: BaseException | None = None) -> None:
        self.incoming = list(incoming)
        self.sent: list[Message] = []
        self.send_error = send_error

    async def receive(self) -> Message:
        if not self.incoming:
            raise AssertionError("the handler received more than the test queued")
        return self.incoming.pop(0)

    async def send(self, message: Message) -> None:
        if self.send_error is not None:
            raise self.send_error
        self.sent.append(message)


def make_scope(**overrides: Any) -> Scope:
    scope: Scope = {
        "type": "websocket",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "scheme": "ws",
        "server": ("example.com", 80),
        "client": ("10.0.0.1", 1234),
        "root_path": "",
        "path": "/ws/room",
        "raw_path": b"/ws/room",
        "query_string": b"a=1&a=2&b=",
        "headers": [
            (b"host", b"example.com"),
            (b"x-token", b"abc"),
            (b"cookie", b"session=s1; theme=dark"),
            (b"x-many", b"1"),
            (b"x-many", b"2"),
        ],
        "subprotocols": ["chat", "json"],
        "extensions": {"websocket.http.response": {}},
    }
    scope.update(overrides)
    return scope


CONNECT = {"type": "websocket.connect"}


def text(data: str) -> Message:
    return {"type": "websocket.receive", "text": data}


def binary(data: bytes) -> Message:
    return {"type": "websocket.receive", "bytes": data}


def disconnect(code: int = 1000, reason: str | None = None) -> Message:
    message: Message = {"type": "websocket.disconnect", "code": code}
    if reason is not None:
        message["reason"] = reason
    return message


async def connected(*incoming: Message, **scope: Any) -> tuple[WebSocket, Wire]:
    wire = Wire(CONNECT, *incoming)
    websocket = WebSocket(make_scope(**scope), wire.receive, wire.send)
    await websocket.accept()
    return websocket, wire


# -- connection data ------------------------------------------------------------------


def test_connection_data_comes_from_the_scope() -> None:
    websocket = WebSocket(make_scope(path_params={"room": "r"}), Wire().receive, Wire().send)
    assert websocket.url == "ws://example.com/ws/room?a=1&a=2&b="
    assert (websocket.url.scheme, websocket.url.hostname, websocket.url.port) == (
        "ws",
        "example.com",
        None,
    )
    assert (websocket.url.path, websocket.url.query) == ("/ws/room", "a=1&a=2&b=")
    assert websocket.headers["X-Token"] == "abc"
    assert websocket.headers.getlist("x-many") == ["1", "2"]
    assert websocket.query_params["a"] == "2"
    assert websocket.query_params.getlist("a") == ["1", "2"]
    assert websocket.path_params == {"room": "r"}
    assert websocket.cookies == {"session": "s1", "theme": "dark"}
    assert websocket.client == ("10.0.0.1", 1234)
    assert websocket.client is not None
    assert websocket.client.port == 1234
    assert websocket.subprotocols == ["chat", "json"]
    assert websocket.spec_version == (2, 4)
    assert websocket.scope["path"] == "/ws/room"


def test_missing_optional_scope_keys_have_defaults() -> None:
    websocket = WebSocket({"type": "websocket", "path": "/"}, Wire().receive, Wire().send)
    assert websocket.client is None
    assert websocket.path_params == {}
    assert websocket.subprotocols == []
    assert websocket.spec_version == (2, 0)
    assert websocket.cookies == {}
    assert websocket.state == {}


def test_a_websocket_needs_a_websocket_scope() -> None:
    with pytest.raises(ValueError, match="WebSocket needs a 'websocket' scope, got 'http'"):
        WebSocket({"type": "http"}, Wire().receive, Wire().send)


# -- accept ---------------------------------------------------------------------------


async def test_accept_receives_connect_first_and_sends_accept() -> None:
    websocket, wire = await connected()
    assert wire.sent == [{"type": "websocket.accept", "subprotocol": None}]
    assert websocket.client_state is WebSocketState.CONNECTED
    assert websocket.application_state is WebSocketState.CONNECTED


async def test_accept_after_the_app_received_connect_itself() -> None:
    wire = Wire(CONNECT)
    websocket = WebSocket(make_scope(), wire.receive, wire.send)
    assert await websocket.receive() == CONNECT
    await websocket.accept()
    assert wire.sent == [{"type": "websocket.accept", "subprotocol": None}]


async def test_accept_with_an_offered_subprotocol_and_headers() -> None:
    wire = Wire(CONNECT)
    websocket = WebSocket(make_scope(), wire.receive, wire.send)
    await websocket.accept("json", headers=[(b"x-a", b"1")])
    assert wire.sent == [
        {"type": "websocket.accept", "subprotocol": "json", "headers": [(b"x-a", b"1")]}
    ]


async def test_accept_refuses_a_subprotocol_the_client_did_not_offer() -> None:
    websocket = WebSocket(make_scope(), Wire(CONNECT).receive, Wire().send)
    with pytest.raises(
        ValueError, match=r"accept\(subprotocol='mqtt'\): the client offered \['chat', 'json'\]"
    ):
        await websocket.accept("mqtt")


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        ([("x-a", "1")], TypeError, "must be a .bytes, bytes. pair"),
        ([(b"X-A", b"1")], ValueError, "must be lowercase"),
        ([(b"sec-websocket-protocol", b"chat")], ValueError, "pass accept.subprotocol=...."),
    ],
)
async def test_accept_headers_are_checked(headers: Any, error: type[Exception], match: str) -> None:
    websocket = WebSocket(make_scope(), Wire(CONNECT).receive, Wire().send)
    with pytest.raises(error, match=match):
        await websocket.accept(headers=headers)


async def test_accept_headers_need_spec_version_2_1() -> None:
    scope = make_scope(asgi={"version": "3.0", "spec_version": "2.0"})
    websocket = WebSocket(scope, Wire(CONNECT).receive, Wire().send)
    with pytest.raises(
        ASGISpecVersionError, match=r"accept\(headers=...\) needs ASGI websocket spec_version 2.1"
    ):
        await websocket.accept(headers=[(b"x-a", b"1")])


async def test_accept_twice_names_the_state_and_the_fix() -> None:
    websocket, _ = await connected()
    with pytest.raises(
        WebSocketStateError,
        match=r"accept\(\) after accept\(\): the application state is CONNECTED",
    ):
        await websocket.accept()


async def test_accept_when_the_client_already_left() -> None:
    wire = Wire(disconnect(1001, "gone"))
    websocket = WebSocket(make_scope(), wire.receive, wire.send)
    with pytest.raises(WebSocketDisconnect, match="code 1001: gone"):
        await websocket.accept()
    assert wire.sent == []


# -- sending --------------------------------------------------------------------------


async def test_send_text_bytes_and_json() -> None:
    websocket, wire = await connected()
    await websocket.send_text("héllo")
    await websocket.send_bytes(b"\x00\x01")
    await websocket.send_json({"a": "é"})
    await websocket.send_json([1, 2], mode="bytes")
    assert wire.sent[1:] == [
        {"type": "websocket.send", "text": "héllo"},
        {"type": "websocket.send", "bytes": b"\x00\x01"},
        {"type": "websocket.send", "text": '{"a":"é"}'},
        {"type": "websocket.send", "bytes": b"[1,2]"},
    ]


async def test_send_json_refuses_a_bad_mode_with_value_error() -> None:
    websocket, _ = await connected()
    with pytest.raises(ValueError, match="mode must be 'text' or 'bytes', got 'binary'"):
        await websocket.send_json({}, mode="binary")  # type: ignore[arg-type]


async def test_send_text_and_bytes_check_types() -> None:
    websocket, _ = await connected()
    with pytest.raises(
        TypeError, match=r"send_text\(\) takes a str, got bytes: use send_bytes\(\)"
    ):
        await websocket.send_text(b"x")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"send_bytes\(\) takes bytes, got str: use send_text\(\)"):
        await websocket.send_bytes("x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("call", "shown"),
    [
        ("send_text", "send_text()"),
        ("send_bytes", "send_bytes()"),
        ("send_json", "send_json(mode='text')"),
    ],
)
async def test_sending_before_accept_names_the_call_and_the_fix(call: str, shown: str) -> None:
    websocket = WebSocket(make_scope(), Wire(CONNECT).receive, Wire().send)
    argument: Any = b"x" if call == "send_bytes" else "x"
    expected = (
        f"{shown} before accept(): the application state is CONNECTING (allowed here: "
        "'websocket.accept', 'websocket.close' or 'websocket.http.response.start'); "
        "call await websocket.accept() first"
    )
    with pytest.raises(WebSocketStateError, match=re.escape(expected)):
        await getattr(websocket, call)(argument)


async def test_sending_after_close() -> None:
    websocket, _ = await connected()
    await websocket.close()
    with pytest.raises(
        WebSocketStateError,
        match=r"send_text\(\) after close\(\): the application state is DISCONNECTED",
    ):
        await websocket.send_text("x")


async def test_raw_send_checks_the_state_machine() -> None:
    websocket, wire = await connected()
    await websocket.send({"type": "websocket.send", "text": "raw"})
    assert wire.sent[-1] == {"type": "websocket.send", "text": "raw"}
    with pytest.raises(
        WebSocketStateError,
        match=r"send\('websocket.accept'\) after accept\(\).*allowed here: 'websocket.close' or 'websocket.send'",
    ):
        await websocket.send({"type": "websocket.accept"})
    with pytest.raises(WebSocketStateError, match=r"send\('nonsense'\) after accept\(\)"):
        await websocket.send({"type": "nonsense"})


async def test_a_send_to_a_vanished_peer_raises_disconnect_1006() -> None:
    wire = Wire(CONNECT)
    websocket = WebSocket(make_scope(), wire.receive, wire.send)
    await websocket.accept()
    wire.send_error = ConnectionResetError("peer gone")
    with pytest.raises(WebSocketDisconnect, match="code 1006") as caught:
        await websocket.send_text("x")
    assert caught.value.code == WsClose.ABNORMAL_CLOSURE
    assert isinstance(caught.value.__cause__, OSError)
    # The peer left: the application closed nothing, and every call now says the peer left.
    assert websocket.application_state is WebSocketState.CONNECTED
    assert websocket.gone == (1006, "")
    with pytest.raises(WebSocketDisconnect, match="code 1006"):
        await websocket.send_bytes(b"x")
    await websocket.close()  # a no-op now, not an error
    assert websocket.application_state is WebSocketState.DISCONNECTED


async def test_sending_after_the_client_disconnected_raises_disconnect() -> None:
    websocket, wire = await connected(disconnect(1001))
    with pytest.raises(WebSocketDisconnect, match="code 1001"):
        await websocket.receive_text()
    with pytest.raises(WebSocketDisconnect, match="code 1001"):
        await websocket.send_text("too late")
    assert len(wire.sent) == 1


# -- receiving ------------------------------------------------------------------------


async def test_receive_text_bytes_and_json() -> None:
    websocket, _ = await connected(
        text("hi"), binary(b"\x00"), text('{"a": 1}'), binary(b'{"b": "\xc3\xa9"}')
    )
    assert await websocket.receive_text() == "hi"
    assert await websocket.receive_bytes() == b"\x00"
    assert await websocket.receive_json() == {"a": 1}
    assert await websocket.receive_json(mode="bytes") == {"b": "é"}


async def test_receive_text_of_a_binary_message_raises_a_type_error_naming_it() -> None:
    websocket, _ = await connected(binary(b"abc"))
    with pytest.raises(
        WebSocketMessageTypeError,
        match=r"receive_text\(\) got a binary message \(3 bytes\): use receive_bytes\(\)",
    ) as caught:
        await websocket.receive_text()
    assert isinstance(caught.value, TypeError)
    assert caught.value.message == binary(b"abc")


async def test_receive_bytes_of_a_text_message_raises_a_type_error_naming_it() -> None:
    websocket, _ = await connected(text("abc"))
    with pytest.raises(
        WebSocketMessageTypeError,
        match=r"receive_bytes\(\) got a text message \(3 characters\): use receive_text\(\)",
    ):
        await websocket.receive_bytes()


async def test_a_message_with_neither_kind_is_named() -> None:
    websocket, _ = await connected({"type": "websocket.receive", "text": None, "bytes": None})
    with pytest.raises(WebSocketMessageTypeError, match="neither 'text' nor 'bytes'"):
        await websocket.receive_text()


async def test_text_none_with_bytes_present_is_a_binary_message() -> None:
    websocket, _ = await connected({"type": "websocket.receive", "text": None, "bytes": b"x"})
    assert await websocket.receive_bytes() == b"x"


async def test_invalid_json_carries_the_raw_data() -> None:
    websocket, _ = await connected(text("{nope"), binary(b"\xff\xfe"), binary(b"[1,"))
    with pytest.raises(
        WebSocketDecodeError,
        match=r"receive_json\(mode='text'\) could not decode the message \(5 characters\): not valid JSON",
    ) as caught:
        await websocket.receive_json()
    assert caught.value.data == "{nope"
    assert isinstance(caught.value, ValueError)
    with pytest.raises(WebSocketDecodeError, match="not valid UTF-8") as caught:
        await websocket.receive_json(mode="bytes")
    assert caught.value.data == b"\xff\xfe"
    with pytest.raises(WebSocketDecodeError, match="not valid JSON") as caught:
        await websocket.receive_json(mode="bytes")
    assert caught.value.data == b"[1,"


async def test_deeply_nested_json_is_a_decode_error_not_a_crash() -> None:
    websocket, _ = await connected(text("[" * 100_000))
    with pytest.raises(WebSocketDecodeError, match="not valid JSON"):
        await websocket.receive_json()


async def test_receive_json_refuses_a_bad_mode() -> None:
    websocket, _ = await connected()
    with pytest.raises(ValueError, match="mode must be 'text' or 'bytes', got 'json'"):
        await websocket.receive_json(mode="json")  # type: ignore[arg-type]


async def test_receive_raises_disconnect_with_code_and_reason() -> None:
    websocket, _ = await connected(disconnect(4000, "bye"))
    with pytest.raises(WebSocketDisconnect, match="code 4000: bye") as caught:
        await websocket.receive_text()
    assert (caught.value.code, caught.value.reason) == (4000, "bye")
    assert websocket.client_state is WebSocketState.DISCONNECTED


async def test_a_disconnect_without_code_means_1005() -> None:
    websocket, _ = await connected({"type": "websocket.disconnect"})
    with pytest.raises(WebSocketDisconnect, match="code 1005"):
        await websocket.receive_bytes()


async def test_receiving_after_disconnect_raises_disconnect_again() -> None:
    websocket, _ = await connected(disconnect(4001, "bye"))
    for _ in range(2):  # every receive, in every task, says the client left
        with pytest.raises(WebSocketDisconnect, match="code 4001: bye"):
            await websocket.receive_text()
    with pytest.raises(WebSocketDisconnect, match="code 4001: bye"):
        await websocket.receive()


async def test_receiving_before_accept_names_the_fix() -> None:
    websocket = WebSocket(make_scope(), Wire(CONNECT).receive, Wire().send)
    with pytest.raises(WebSocketStateError, match=r"receive_json\(mode='text'\) before accept\(\)"):
        await websocket.receive_json()


async def test_raw_receive_checks_what_the_server_delivers() -> None:
    websocket = WebSocket(make_scope(), Wire(text("early")).receive, Wire().send)
    with pytest.raises(
        WebSocketStateError,
        match=r"receive\(\) got 'websocket.receive' before websocket.connect.*allowed here: 'websocket.connect' or 'websocket.disconnect'",
    ):
        await websocket.receive()


async def test_iteration_ends_cleanly_on_disconnect() -> None:
    websocket, _ = await connected(text("a"), text("b"), disconnect())
    assert [t async for t in websocket.iter_text()] == ["a", "b"]
    websocket, _ = await connected(binary(b"a"), disconnect())
    assert [b async for b in websocket.iter_bytes()] == [b"a"]
    websocket, _ = await connected(text("1"), text("[2]"), disconnect())
    assert [j async for j in websocket.iter_json()] == [1, [2]]
    websocket, _ = await connected(binary(b"{}"), disconnect())
    assert [j async for j in websocket.iter_json(mode="bytes")] == [{}]


async def test_iter_json_checks_its_mode_before_receiving() -> None:
    websocket, _ = await connected()
    with pytest.raises(ValueError, match=r"iter_json\(\): mode must be"):
        async for _ in websocket.iter_json(mode="xml"):  # type: ignore[arg-type]
            pass


# -- close ----------------------------------------------------------------------------


async def test_close_sends_code_and_reason_and_a_second_close_is_a_no_op() -> None:
    websocket, wire = await connected()
    await websocket.close(WsClose.POLICY_VIOLATION, "nope")
    await websocket.close()
    assert wire.sent[1:] == [{"type": "websocket.close", "code": 1008, "reason": "nope"}]
    assert type(wire.sent[1]["code"]) is int
    assert websocket.application_state is WebSocketState.DISCONNECTED


async def test_close_before_accept_denies() -> None:
    wire = Wire()
    websocket = WebSocket(make_scope(), wire.receive, wire.send)
    await websocket.close()
    assert wire.sent == [{"type": "websocket.close", "code": 1000}]


@pytest.mark.parametrize("code", [1004, 1005, 1006, 1015, 999, 1016, 2999, 5000, 0])
async def test_close_refuses_codes_rfc_6455_forbids(code: int) -> None:
    websocket, wire = await connected()
    with pytest.raises(ValueError, match=r"RFC 6455 §7\.4"):
        await websocket.close(code)
    assert len(wire.sent) == 1


async def test_close_with_abnormal_closure_from_the_seed_is_refused_with_the_reason() -> None:
    websocket, _ = await connected()
    with pytest.raises(
        ValueError, match=r"close code 1006 is reserved for reading \(RFC 6455 §7\.4\.1\)"
    ):
        await websocket.close(WsClose.ABNORMAL_CLOSURE)


@pytest.mark.parametrize("code", [1000, 1003, 1007, 1014, 3000, 4999])
async def test_close_accepts_the_allowed_ranges(code: int) -> None:
    websocket, wire = await connected()
    await websocket.close(code)
    assert wire.sent[-1]["code"] == code


async def test_close_reason_is_limited_to_123_utf8_bytes() -> None:
    websocket, wire = await connected()
    with pytest.raises(
        ValueError, match="close reason is 124 UTF-8 bytes; a close frame carries at most 123"
    ):
        await websocket.close(1000, "é" * 62)
    await websocket.close(1000, "é" * 61 + "x")
    assert wire.sent[-1]["reason"] == "é" * 61 + "x"


async def test_close_reason_is_left_out_below_spec_2_3() -> None:
    websocket, wire = await connected(asgi={"version": "3.0", "spec_version": "2.2"})
    await websocket.close(1000, "bye")
    assert wire.sent[-1] == {"type": "websocket.close", "code": 1000}


async def test_close_after_the_client_left_sends_nothing() -> None:
    websocket, wire = await connected(disconnect(1001))
    with pytest.raises(WebSocketDisconnect, match="1001"):
        await websocket.receive_text()
    await websocket.close()
    assert len(wire.sent) == 1
    assert websocket.application_state is WebSocketState.DISCONNECTED


async def test_close_to_a_vanished_peer_is_quiet() -> None:
    websocket, wire = await connected()
    wire.send_error = BrokenPipeError()
    await websocket.close()
    assert websocket.application_state is WebSocketState.DISCONNECTED


# -- deny -----------------------------------------------------------------------------


async def test_deny_sends_an_http_response_through_the_extension() -> None:
    wire = Wire()
    websocket = WebSocket(make_scope(), wire.receive, wire.send)
    await websocket.deny(401, "log in first", headers={"WWW-Authenticate": "Bearer"})
    start, body = wire.sent
    assert start["type"] == "websocket.http.response.start"
    assert start["status"] == 401
    assert (b"www-authenticate", b"Bearer") in start["headers"]
    assert (b"content-type", b"text/plain; charset=utf-8") in start["headers"]
    assert (b"content-length", b"12") in start["headers"]
    assert body == {"type": "websocket.http.response.body", "body": b"log in first"}
    assert websocket.application_state is WebSocketState.DISCONNECTED


async def test_deny_with_bytes_and_a_content_type_of_ones_own() -> None:
    wire = Wire()
    websocket = WebSocket(make_scope(), wire.receive, wire.send)
    await websocket.deny(429, b"{}", headers={"content-type": "application/json"})
    assert [h for h in wire.sent[0]["headers"] if h[0] == b"content-type"] == [
        (b"content-type", b"application/json")
    ]


async def test_deny_without_the_extension_is_a_close_403() -> None:
    wire = Wire()
    websocket = WebSocket(make_scope(extensions={}), wire.receive, wire.send)
    await websocket.deny(401, "ignored")
    assert wire.sent == [{"type": "websocket.close", "code": 1000}]


async def test_deny_checks_status_and_state() -> None:
    websocket = WebSocket(make_scope(), Wire().receive, Wire().send)
    with pytest.raises(ValueError, match="deny with a status from 100 to 599 other than 101"):
        await websocket.deny(101)
    with pytest.raises(TypeError, match="HTTP status must be an int"):
        await websocket.deny("403")  # type: ignore[arg-type]
    accepted, _ = await connected()
    with pytest.raises(WebSocketStateError, match=r"deny\(\) after accept\(\)"):
        await accepted.deny()


async def test_a_denial_in_progress_refuses_other_messages() -> None:
    wire = Wire()
    websocket = WebSocket(make_scope(), wire.receive, wire.send)
    await websocket.send({"type": "websocket.http.response.start", "status": 403, "headers": []})
    await websocket.send({"type": "websocket.http.response.body", "body": b"a", "more_body": True})
    assert websocket.application_state is WebSocketState.RESPONSE
    with pytest.raises(WebSocketStateError, match=r"close\(\) during a denial response"):
        await websocket.close()
    await websocket.send({"type": "websocket.http.response.body", "body": b"b"})
    assert websocket.application_state is WebSocketState.DISCONNECTED


def test_disconnect_defaults() -> None:
    error = WebSocketDisconnect()
    assert (error.code, error.reason, str(error)) == (
        1000,
        "",
        "WebSocket disconnected with code 1000",
    )


def test_json_used_by_send_json_is_compact_and_unicode() -> None:
    assert json.dumps({"a": "é"}, separators=(",", ":"), ensure_ascii=False) == '{"a":"é"}'


# -- the peer-gone contract -------------------------------------------------------------


async def test_a_send_that_found_the_peer_gone_lets_receive_read_what_came_first() -> None:
    # Another task's send failed: this task still reads what the client sent before it
    # went, then the client's own close code, never a WebSocketStateError.
    websocket, wire = await connected(text("last words"), disconnect(1001, "going"))
    wire.send_error = BrokenPipeError()
    with pytest.raises(WebSocketDisconnect, match="code 1006"):
        await websocket.send_text("to a member that left")
    assert await websocket.receive_text() == "last words"
    with pytest.raises(WebSocketDisconnect, match="code 1001: going"):
        await websocket.receive_text()
    with pytest.raises(WebSocketDisconnect, match="code 1001: going"):  # now the real code
        await websocket.send_text("again")
    assert [t async for t in websocket.iter_text()] == []  # iterators end cleanly


async def test_state_errors_only_for_the_applications_own_misuse() -> None:
    websocket, _ = await connected(disconnect(1000))
    with pytest.raises(WebSocketDisconnect, match="code 1000"):
        await websocket.receive_text()
    await websocket.close()  # the client left: nothing to close, no error
    with pytest.raises(
        WebSocketStateError, match=r"send_text\(\) after close\(\): the application"
    ):
        await websocket.send_text("the application closed it itself")


async def test_after_close_receiving_waits_for_the_clients_close() -> None:
    # Data the client sent before it saw the close is dropped (RFC 6455 section 1.4).
    websocket, wire = await connected(text("in flight"), disconnect(1000, "bye"))
    await websocket.close(4000)
    assert wire.sent[-1] == {"type": "websocket.close", "code": 4000}
    assert [t async for t in websocket.iter_text()] == []  # a room's close ends the loop
    with pytest.raises(WebSocketDisconnect, match="code 1000: bye"):
        await websocket.receive_bytes()


async def test_a_message_over_the_limit_raises_1009_for_every_call_after_it() -> None:
    websocket, wire = await connected(text("é" * 3), binary(b"x" * 7), text("late"))
    websocket.max_message_size = 6
    assert await websocket.receive_text() == "ééé"  # 6 bytes: at the limit
    with pytest.raises(WebSocketDisconnect, match=r"code 1009: message too big \(7 bytes"):
        await websocket.receive_bytes()
    assert wire.sent[-1] == {
        "type": "websocket.close",
        "code": 1009,
        "reason": "message too big (7 bytes; the limit is 6)",
    }
    with pytest.raises(WebSocketDisconnect, match="code 1009"):
        await websocket.send_text("after")
    assert [t async for t in websocket.iter_text()] == []


async def test_raw_receive_applies_the_limit_too() -> None:
    websocket, wire = await connected(text("x" * 11))
    websocket.max_message_size = 10
    with pytest.raises(WebSocketDisconnect, match="code 1009"):
        await websocket.receive()
    assert wire.sent[-1]["code"] == 1009
