"""yaat_testing.session: what a test sees, for raw ASGI apps and for yaat."""

from __future__ import annotations

import asyncio
import traceback
import warnings
from typing import Any

import pytest

from yaat import Yaat
from yaat.types import Message, Receive, Scope, Send
from yaat.websockets import WebSocket, WebSocketDisconnect, WebSocketMessageTypeError
from yaat_testing import (
    ASGIProtocolError,
    ConcurrentReceiveError,
    TestClient,
    UnexpectedMessage,
    WebSocketDenied,
    WebSocketSession,
    WebSocketTimeout,
)

ACCEPT: Message = {"type": "websocket.accept"}


class Boom(Exception):
    pass


async def echo(scope: Scope, receive: Receive, send: Send) -> None:
    """A raw ASGI echo app that closes with the client's code."""
    await receive()
    await send(
        {
            "type": "websocket.accept",
            "subprotocol": (scope["subprotocols"] or [None])[0],
            "headers": [(b"x-a", b"1")],
        }
    )
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") == "close":
            await send({"type": "websocket.close", "code": 4000, "reason": "asked"})
            return
        await send(
            {
                "type": "websocket.send",
                **{k: v for k, v in message.items() if k in ("text", "bytes")},
            }
        )


# -- handshake ------------------------------------------------------------------------


async def test_subprotocol_and_accept_headers() -> None:
    async with (
        TestClient(echo) as client,
        client.websocket_connect("/", subprotocols=["chat"]) as ws,
    ):
        assert isinstance(ws, WebSocketSession)
        assert ws.subprotocol == "chat"
        assert ws.accept_headers["X-A"] == "1"
        assert (ws.close_code, ws.close_reason) == (None, None)


async def test_a_denial_response_joins_every_body_part() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {
                "type": "websocket.http.response.start",
                "status": 418,
                "headers": [(b"x-why", b"teapot")],
            }
        )
        await send({"type": "websocket.http.response.body", "body": b"I'm ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"a teapot"})

    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match=r"HTTP 418: b\"I'm a teapot\"") as caught:
            async with client.websocket_connect("/"):
                pass
    assert (caught.value.status_code, caught.value.body, caught.value.headers["x-why"]) == (
        418,
        b"I'm a teapot",
        "teapot",
    )


async def half_denial(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await send({"type": "websocket.http.response.start", "status": 403})


async def test_an_app_that_returns_before_accept_is_a_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()

    async with TestClient(app) as client:
        with pytest.raises(
            WebSocketDenied, match=r"HTTP 500 \(the app ended before accepting\)"
        ) as caught:
            async with client.websocket_connect("/"):
                pass
    assert caught.value.text == "Internal Server Error"


async def test_an_app_that_ends_mid_denial_breaks_the_protocol() -> None:
    async with TestClient(half_denial) as client:
        with pytest.raises(
            ASGIProtocolError,
            match=r"\[denial-incomplete\] the app ended in the middle of its denial response",
        ):
            async with client.websocket_connect("/"):
                pass


async def test_an_app_that_ends_mid_denial_drops_the_connection_as_uvicorn_does() -> None:
    # uvicorn writes no response at all and closes: clients report 1006.
    async with TestClient(half_denial, strict=False) as client:
        with pytest.raises(
            WebSocketDisconnect, match="code 1006: the connection dropped during the handshake"
        ):
            async with client.websocket_connect("/"):
                pass


async def test_a_handshake_that_never_comes_times_out_with_the_transcript() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(3600)

    async with TestClient(app, timeout=0.05, lifespan="off") as client:
        with pytest.raises(
            WebSocketTimeout,
            match=r"(?s)timed out after 0.05s waiting for the handshake \(websocket.accept\).*transcript:.*client→app  websocket.connect",
        ) as caught:
            async with client.websocket_connect("/"):
                pass
    assert isinstance(caught.value, TimeoutError)


# -- the app closes -------------------------------------------------------------------


async def test_the_app_closing_raises_disconnect_with_code_and_reason() -> None:
    async with TestClient(echo) as client, client.websocket_connect("/") as ws:
        await ws.send_text("close")
        with pytest.raises(WebSocketDisconnect, match="code 4000: asked") as caught:
            await ws.receive_text()
        assert (caught.value.code, caught.value.reason) == (4000, "asked")
        assert (ws.close_code, ws.close_reason) == (4000, "asked")
        with pytest.raises(WebSocketDisconnect, match="code 4000"):
            await ws.receive_bytes()
        assert await ws.receive() == {"type": "websocket.close", "code": 4000, "reason": "asked"}
        with pytest.raises(WebSocketDisconnect, match="code 4000"):
            await ws.send_text("too late")


async def test_a_close_without_a_code_means_1000() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await send({"type": "websocket.close"})

    async with TestClient(app) as client, client.websocket_connect("/") as ws:
        assert await ws.receive() == {"type": "websocket.close", "code": 1000, "reason": ""}


async def test_returning_after_accept_without_closing_is_1006() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await send({"type": "websocket.send", "text": "last words"})

    async with TestClient(app) as client, client.websocket_connect("/") as ws:
        assert await ws.receive_text() == "last words"
        with pytest.raises(WebSocketDisconnect, match="code 1006"):
            await ws.receive_text()
        with pytest.raises(WebSocketDisconnect, match="code 1006"):
            await ws.send_text("anyone?")


# -- app exceptions -------------------------------------------------------------------


def crashing(after: int) -> Any:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        for i in range(after):
            await send({"type": "websocket.send", "text": str(i)})
        raise Boom("the app's own error")

    return app


async def test_an_app_exception_reaches_the_next_await_with_its_type_and_traceback() -> None:
    async with TestClient(crashing(after=1)) as client:
        with pytest.raises(Boom, match="the app's own error") as caught:
            async with client.websocket_connect("/") as ws:
                await ws.receive_text()
    frames = [frame.name for frame in traceback.extract_tb(caught.value.__traceback__)]
    assert "app" in frames  # the app's own frame is kept


async def test_an_app_exception_wins_over_a_close_it_sent_first() -> None:
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        raise Boom("after accept")

    async with TestClient(app) as client:
        with pytest.raises(Boom, match="after accept"):
            async with client.websocket_connect("/ws") as ws:
                await ws.receive()


async def test_an_app_exception_reaches_the_test_at_context_exit() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await receive()
        raise Boom("while closing")

    async with TestClient(app) as client:
        with pytest.raises(Boom, match="while closing"):
            async with client.websocket_connect("/"):
                pass


async def test_an_app_exception_is_not_delayed_by_the_timeout() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await asyncio.sleep(0.01)
        raise Boom("soon")

    loop = asyncio.get_running_loop()
    async with TestClient(app, timeout=30) as client:
        started = loop.time()
        with pytest.raises(Boom, match="soon"):
            async with client.websocket_connect("/") as ws:
                await ws.receive_text()
    assert loop.time() - started < 5  # far below the 30 s timeout


async def test_without_raising_a_crash_after_accept_is_1006() -> None:
    async with (
        TestClient(crashing(after=1), raise_app_exceptions=False) as client,
        client.websocket_connect("/") as ws,
    ):
        assert await ws.receive_text() == "0"
        assert await ws.receive_close() == (1006, "")


async def test_without_raising_a_crash_before_accept_is_500() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise Boom("early")

    async with TestClient(app, raise_app_exceptions=False) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 500"):
            async with client.websocket_connect("/"):
                pass


async def test_a_failing_test_body_gets_the_transcript_and_app_error_as_notes() -> None:
    async with TestClient(crashing(after=1), raise_app_exceptions=False) as client:
        with pytest.raises(AssertionError, match="the test's own failure") as caught:
            async with client.websocket_connect("/") as ws:
                assert await ws.receive_text() == "0"
                await asyncio.sleep(0)
                raise AssertionError("the test's own failure")
    notes = "\n".join(getattr(caught.value, "__notes__", []))
    assert "the app also raised Boom" in notes
    assert "app→client  websocket.send text='0'" in notes


# -- timeouts -------------------------------------------------------------------------


async def test_a_receive_timeout_carries_the_transcript_and_leaves_the_session_usable() -> None:
    async with TestClient(echo, timeout=5) as client, client.websocket_connect("/") as ws:
        with pytest.raises(
            WebSocketTimeout,
            match=r"(?s)timed out after 0.02s waiting for a message from the app.*websocket.accept",
        ):
            await ws.receive_text(timeout=0.02)
        await ws.send_text("still here")
        assert await ws.receive_text() == "still here"


async def test_an_app_that_never_finishes_is_cancelled_and_reported_at_exit() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await asyncio.sleep(3600)  # never reads the disconnect

    async with TestClient(app, timeout=0.05) as client:
        with pytest.raises(
            WebSocketTimeout,
            match=r"the app to finish after the client disconnected \(it was cancelled\)",
        ):
            async with client.websocket_connect("/"):
                pass


async def test_sends_to_an_app_that_never_reads_do_not_block() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await asyncio.sleep(3600)

    async with TestClient(app, timeout=0.05) as client:
        with pytest.raises(WebSocketTimeout, match="waiting for a message from the app"):
            async with client.websocket_connect("/") as ws:
                for _ in range(1000):
                    await ws.send_text("x")
                await ws.receive_text()


# -- closing --------------------------------------------------------------------------


async def test_client_close_delivers_code_and_reason_and_waits_for_the_app() -> None:
    seen: list[Message] = []
    finished = asyncio.Event()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        seen.append(await receive())
        await asyncio.sleep(0.01)
        finished.set()

    async with TestClient(app) as client, client.websocket_connect("/") as ws:
        await ws.close(code=4000, reason="bye")
        assert finished.is_set()
        assert (ws.close_code, ws.close_reason) == (4000, "bye")
    assert seen == [{"type": "websocket.disconnect", "code": 4000, "reason": "bye"}]


async def test_leaving_the_block_sends_disconnect_1000() -> None:
    seen: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        seen.append(await receive())

    async with TestClient(app) as client, client.websocket_connect("/"):
        pass
    assert seen == [{"type": "websocket.disconnect", "code": 1000, "reason": ""}]


async def test_no_task_or_warning_is_left_behind() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with TestClient(echo) as client:
            for _ in range(20):
                async with client.websocket_connect("/") as ws:
                    await ws.send_text("x")
        await asyncio.sleep(0)
    assert [str(w.message) for w in caught] == []
    assert asyncio.all_tasks() == {asyncio.current_task()}


async def test_a_cancelled_test_cleans_up_the_app_task() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await send(ACCEPT)
        await asyncio.sleep(3600)

    async def the_test(client: TestClient) -> None:
        async with client.websocket_connect("/") as ws:
            await ws.receive_text(timeout=3600)

    async with TestClient(app) as client:
        task = asyncio.create_task(the_test(client))
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.wait({task})
        assert task.cancelled()
    assert asyncio.all_tasks() == {asyncio.current_task()}


# -- helpers --------------------------------------------------------------------------


async def test_receive_close_refuses_to_skip_a_message() -> None:
    async with TestClient(echo) as client, client.websocket_connect("/") as ws:
        await ws.send_text("hi")
        with pytest.raises(
            UnexpectedMessage, match="expected the app to close, but it sent a message first"
        ):
            await ws.receive_close()


async def test_assert_nothing_received() -> None:
    async with TestClient(echo) as client, client.websocket_connect("/") as ws:
        await ws.assert_nothing_received(within=0.01)
        await ws.send_text("ping")
        with pytest.raises(
            UnexpectedMessage,
            match=r"expected no message within 0.01s, got \{'type': 'websocket.send', 'text': 'ping'\}",
        ):
            await ws.assert_nothing_received(within=0.01)
        await ws.send_text("close")
        with pytest.raises(UnexpectedMessage, match=r"websocket\.close"):
            await ws.assert_nothing_received(within=1)
        with pytest.raises(UnexpectedMessage, match="the connection already ended with code 4000"):
            await ws.assert_nothing_received()


async def test_a_frame_of_the_other_kind_is_a_type_error() -> None:
    async with TestClient(echo) as client, client.websocket_connect("/") as ws:
        await ws.send_bytes(b"\x00")
        with pytest.raises(
            WebSocketMessageTypeError, match=r"receive_text\(\) got a binary message \(1 bytes\)"
        ):
            await ws.receive_text()
        await ws.send_text("t")
        with pytest.raises(
            WebSocketMessageTypeError, match=r"receive_bytes\(\) got a text message"
        ):
            await ws.receive_bytes()


async def test_json_both_ways_and_in_both_modes() -> None:
    async with TestClient(echo) as client, client.websocket_connect("/") as ws:
        await ws.send_json({"a": [1, "é"]})
        assert await ws.receive_json() == {"a": [1, "é"]}
        await ws.send_json({"b": 2}, mode="bytes")
        assert await ws.receive_json(mode="bytes") == {"b": 2}
        with pytest.raises(ValueError, match="mode must be 'text' or 'bytes', got 'x'"):
            await ws.send_json({}, mode="x")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="mode must be 'text' or 'bytes', got 'x'"):
            await ws.receive_json(mode="x")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"send_text\(\) takes a str"):
            await ws.send_text(b"x")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"send_bytes\(\) takes bytes"):
            await ws.send_bytes("x")  # type: ignore[arg-type]


async def test_the_transcript_records_both_ways_with_times() -> None:
    async with TestClient(echo) as client, client.websocket_connect("/") as ws:
        await ws.send_text("hi")
        await ws.receive_text()
    directions = [(e.direction, e.message["type"]) for e in ws.transcript.entries]
    assert directions == [
        ("client→app", "websocket.connect"),
        ("app→client", "websocket.accept"),
        ("client→app", "websocket.receive"),
        ("app→client", "websocket.send"),
        ("client→app", "websocket.disconnect"),
    ]
    times = [e.at for e in ws.transcript.entries]
    assert times == sorted(times)
    assert "websocket.receive text='hi'" in str(ws.transcript)


# -- concurrency ----------------------------------------------------------------------


@pytest.mark.parametrize("clients", [2, 10, 300])
async def test_a_chat_broadcast_reaches_every_client(clients: int) -> None:
    app = Yaat()
    members: set[WebSocket] = set()

    @app.websocket_route("/chat")
    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        members.add(websocket)
        try:
            async for text in websocket.iter_text():
                for member in list(members):
                    await member.send_text(text)
        finally:
            members.discard(websocket)

    async with TestClient(app) as client:
        sessions = [
            await client.websocket_connect(f"/chat?n={i}").__aenter__() for i in range(clients)
        ]
        await sessions[0].send_text("hello all")
        received = [await ws.receive_text() for ws in sessions]
        for ws in sessions:
            await ws.close()
    assert received == ["hello all"] * clients
    assert members == set()


async def test_raw_send_refuses_messages_a_client_cannot_send() -> None:
    async with TestClient(echo) as client, client.websocket_connect("/") as ws:
        with pytest.raises(
            ValueError,
            match=r"send\(\) takes a 'websocket.receive' or 'websocket.disconnect' message",
        ):
            await ws.send({"type": "websocket.send", "text": "x"})
        with pytest.raises(ValueError, match="use send_text"):
            await ws.send({"text": "no type"})


async def waits_for_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass


async def test_a_second_concurrent_receive_is_refused_at_once_and_the_first_still_ends() -> None:
    async with (
        TestClient(waits_for_disconnect) as client,
        client.websocket_connect("/", timeout=0.2) as ws,
    ):
        first = asyncio.create_task(ws.receive_text())
        await asyncio.sleep(0.01)
        with pytest.raises(
            ConcurrentReceiveError,
            match=r"receive_bytes\(\) while receive_text\(\) is still waiting on this session: "
            r"probably two tasks receive at once",
        ):
            await ws.receive_bytes()
        with pytest.raises(WebSocketTimeout, match="a message from the app"):
            await first


async def test_closing_while_another_task_receives_ends_that_receive() -> None:
    async with TestClient(waits_for_disconnect) as client:
        async with client.websocket_connect("/") as ws:
            pending = asyncio.create_task(ws.receive_text())
            await asyncio.sleep(0.01)
            await ws.close(4001, "done")
            with pytest.raises(WebSocketDisconnect) as closed:
                await asyncio.wait_for(pending, 5)
            assert closed.value.code == 4001


async def test_a_close_before_accept_keeps_the_apps_code_and_reason() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.close", "code": 1008, "reason": "no token"})

    async with TestClient(app) as client:
        with pytest.raises(
            WebSocketDenied,
            match=r"HTTP 403 \(the app closed with 1008 'no token' before accepting; a real "
            r"server answers HTTP 403 and drops the code and reason\)",
        ) as denied:
            async with client.websocket_connect("/"):
                pass
    assert (denied.value.status_code, denied.value.close_code, denied.value.close_reason) == (
        403,
        1008,
        "no token",
    )


async def chatter(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        for event in ("join", "typing", "typing"):
            await send({"type": "websocket.send", "text": f'{{"type": "{event}"}}'})
        await send({"type": "websocket.send", "bytes": b"\x00"})
        await send({"type": "websocket.send", "text": '{"type": "message", "text": "hi"}'})
        await receive()


async def test_receive_matching_skips_to_the_first_match_and_notes_the_skipped() -> None:
    async with TestClient(chatter) as client, client.websocket_connect("/") as ws:
        message = await ws.receive_matching(lambda e: e["type"] == "message", decode="json")
        assert message == {"type": "message", "text": "hi"}
        notes = [
            (e.note, e.message.get("text") or e.message.get("bytes"))
            for e in ws.transcript.entries
            if e.note
        ]
        assert notes == [
            ("skipped", '{"type": "join"}'),
            ("skipped", '{"type": "typing"}'),
            ("skipped", '{"type": "typing"}'),
            ("skipped", b"\x00"),
        ]
        assert '{"type": "typing"}\'  [skipped]' in str(ws.transcript)
        with pytest.raises(WebSocketTimeout, match=r"a message matching .*<lambda> \(0 skipped\)"):
            await ws.receive_matching(lambda m: True, timeout=0.05)


async def test_receive_matching_raw_and_its_errors() -> None:
    async with TestClient(chatter) as client, client.websocket_connect("/") as ws:
        raw = await ws.receive_matching(lambda m: m.get("bytes") is not None)
        assert raw == {"type": "websocket.send", "bytes": b"\x00"}
        with pytest.raises(
            ValueError, match=r"decode='xml'\): use 'raw', 'text', 'bytes' or 'json'"
        ):
            await ws.receive_matching(bool, decode="xml")  # type: ignore[arg-type]

    async def closes(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await receive()
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "text": "no"})
            await send({"type": "websocket.close", "code": 4000})

    async with TestClient(closes) as client, client.websocket_connect("/") as ws:
        with pytest.raises(WebSocketDisconnect, match="4000"):
            await ws.receive_matching(lambda text: text == "yes", decode="text")


# -- the test's own mistakes are TypeError or ValueError, naming the argument and the fix --


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda ws: ws.send_text("\ud800"), ValueError, r"send_text\(\): .* lone surrogate"),
        (lambda ws: ws.send_text(b"x"), TypeError, r"send_text\(\) takes a str"),
        (lambda ws: ws.send_bytes("x"), TypeError, r"send_bytes\(\) takes bytes"),
        (
            lambda ws: ws.send({"type": "websocket.receive"}),
            ValueError,
            r"one of 'text' or 'bytes'.*never both or neither",
        ),
        (
            lambda ws: ws.send({"type": "websocket.receive", "text": 1}),
            TypeError,
            r"'text' must be a str",
        ),
        (lambda ws: ws.send({"type": "websocket.send", "text": "x"}), ValueError, r"no client"),
        (lambda ws: ws.close(1006), ValueError, r"reserved for reading.*use drop\(\)"),
        (lambda ws: ws.close(999), ValueError, r"close\(code=999.*outside the ranges"),
        (lambda ws: ws.close("1000"), TypeError, r"close code must be an int"),
        (lambda ws: ws.close(1000, "x" * 124), ValueError, r"at most 123"),
        (lambda ws: ws.receive_text(timeout=-1), ValueError, r"timeout must be >= 0"),
        (lambda ws: ws.receive(timeout="1"), TypeError, r"timeout is a number of seconds"),
    ],
)
async def test_a_tests_mistake_names_the_argument_and_the_fix(
    call: Any, error: type[Exception], match: str
) -> None:
    async with TestClient(echo) as client, client.websocket_connect("/") as ws:
        with pytest.raises(error, match=match):
            await call(ws)
        assert ws.state.name == "CONNECTED"  # nothing was sent: the session goes on


@pytest.mark.parametrize(
    ("headers", "error", "match"),
    [
        ({"x token": "a"}, ValueError, r"a name is a token"),
        ({"x-token": "a\r\nx: y"}, ValueError, r"no CR, LF or NUL"),
        ({"x-token": "é€"}, ValueError, r"HTTP headers are Latin-1"),
        ([("x-token",)], TypeError, r"mapping or \(name, value\) pairs"),
        ({"x-token": 1}, TypeError, r"is not a pair of str"),
    ],
)
async def test_headers_no_client_can_send_are_refused(
    headers: Any, error: type[Exception], match: str
) -> None:
    async with TestClient(echo) as client:
        with pytest.raises(error, match=match):
            client.websocket_connect("/", headers=headers)
