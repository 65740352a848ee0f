"""yaat_testing.transports.memory: the server it plays, and every ASGI rule it enforces."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from yaat.protocol import Side, WebSocketState, next_state
from yaat.types import Message, Receive, Scope, Send
from yaat.websockets import WebSocketDisconnect
from yaat_testing import ASGIProtocolError, TestClient, WebSocketDenied, WebSocketRequest
from yaat_testing.profiles import GRANIAN
from yaat_testing.rules import Facts, check_send
from yaat_testing.transports.memory import MemoryConnection, MemoryTransport

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


# -- the fast paths agree with the rules and the table ---------------------------------

plain_messages = st.one_of(
    st.builds(lambda t: {"type": "websocket.send", "text": t}, st.text(max_size=3)),
    st.builds(  # with lone surrogates, which UTF-8 cannot encode
        lambda t: {"type": "websocket.send", "text": t},
        st.text(st.sampled_from(["a", "é", "\ud800", "\udfff"]), max_size=3),
    ),
    st.builds(lambda b: {"type": "websocket.send", "bytes": b}, st.binary(max_size=3)),
    st.just({"type": "websocket.accept"}),
    st.builds(
        lambda p: {"type": "websocket.accept", "subprotocol": p},
        st.sampled_from([None, "chat", "mqtt", b"chat"]),
    ),
    st.builds(
        lambda h: {"type": "websocket.accept", "headers": h},
        st.sampled_from([[], (), [(b"x-a", b"1")], [(b"X-A", b"1")], None, "x"]),
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["websocket.send", "websocket.accept", "websocket.close"])},
        optional={
            "text": st.none() | st.text(max_size=2) | st.binary(max_size=2),
            "bytes": st.none() | st.binary(max_size=2) | st.text(max_size=2),
            "code": st.sampled_from([1000, 1006, 4000, "x"]),
        },
    ),
)


@settings(max_examples=300, deadline=None)
@given(accepted=st.booleans(), messages=st.lists(plain_messages, min_size=1, max_size=4))
async def test_the_fast_paths_agree_with_check_send_and_the_table(
    accepted: bool, messages: list[Message]
) -> None:
    sequence = [{"type": "websocket.accept"}, *messages] if accepted else messages
    transport = MemoryTransport(sending(), lifespan="off")
    connection = MemoryConnection(
        transport, transport.build_scope(WebSocketRequest("ws://t/", subprotocols=["chat"]))
    )
    connection.client_state = WebSocketState.CONNECTED
    state = WebSocketState.CONNECTING
    for message in sequence:
        predicted = check_send(Facts(state, frozenset({"chat"}), True), message)
        try:
            await connection._app_send(dict(message))
            raised = None
        except ASGIProtocolError as error:
            raised = error.rule
        assert raised == (predicted[0].rule if predicted else None), message
        if not predicted:
            target = next_state(Side.APPLICATION, state, message)
            assert target is not None
            state = target
        assert connection.app_state is state, message


# -- what only a server profile says ----------------------------------------------------


async def _waits_for_disconnect(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send(ACCEPT)
        seen.append(await receive())


seen: list[Message] = []


@pytest.mark.parametrize(("server", "code"), [("uvicorn", 1005), ("hypercorn", 1006)])
async def test_a_dropped_client_is_reported_with_the_servers_code(server: str, code: int) -> None:
    seen.clear()
    async with TestClient(_waits_for_disconnect, server=server) as client:
        async with client.websocket_connect("/") as ws:
            await ws.drop()
            assert (ws.close_code, ws.close_reason) == (1006, "")
    assert seen == [{"type": "websocket.disconnect", "code": code}]


@pytest.mark.parametrize(
    ("server", "close", "app"),
    [("uvicorn", 1012, [{"type": "websocket.disconnect", "code": 1012}]), ("hypercorn", 1011, [])],
)
async def test_a_shutdown_ends_open_sessions_as_the_server_does(
    server: str, close: int, app: list[Message]
) -> None:
    seen.clear()
    async with TestClient(_waits_for_disconnect, server=server) as client:
        async with client.websocket_connect("/") as ws:
            await client.shutdown(grace=0.05)  # hypercorn's app is cancelled after it
            assert (await ws.receive_close()).code == close
    assert seen == app


async def test_a_message_over_the_servers_limit() -> None:
    seen.clear()
    async with TestClient(_waits_for_disconnect, server="daphne") as client:
        async with client.websocket_connect("/") as ws:
            await ws.send_bytes(bytes(2**20 + 1))  # daphne takes 1 MiB
            assert await ws.receive_close() == (1006, "")
    assert seen == [{"type": "websocket.disconnect", "code": 1006}]


async def _closes_from_another_task(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "websocket":
        await receive()
        await send(ACCEPT)

        async def closer() -> None:
            await send({"type": "websocket.close", "code": 4013, "reason": "bye"})
            seen.append({"type": "close returned"})

        task = asyncio.ensure_future(closer())
        seen.append(await receive())
        await task


@pytest.mark.parametrize(
    ("server", "seen_by_the_app"),
    [
        (
            "uvicorn",
            [
                {"type": "close returned"},
                {"type": "websocket.disconnect", "code": 4013, "reason": "bye"},
            ],
        ),
        (
            "granian",
            [{"type": "websocket.disconnect", "code": 1005}, {"type": "close returned"}],
        ),
    ],
)
async def test_a_close_from_another_task_goes_out_while_receive_waits(
    server: str, seen_by_the_app: list[Message]
) -> None:
    seen.clear()
    async with TestClient(_closes_from_another_task, server=server) as client:
        async with client.websocket_connect("/") as ws:
            assert await ws.receive_close() == (4013, "bye")
    # uvicorn's send() returns at once; granian's once the waiting receive() returned,
    # and granian tells the app 1005 whatever the client answered.
    assert seen == seen_by_the_app


async def test_a_profile_may_hold_a_close_until_the_receive_that_waits_returns() -> None:
    # granian before 2.8.9 did this: the client leaves without ever getting the close.
    seen.clear()
    profile = dataclasses.replace(GRANIAN, close_while_receive_waits="held")
    transport = MemoryTransport(_closes_from_another_task, profile=profile)
    async with TestClient(transport=transport) as client:
        async with client.websocket_connect("/") as ws:
            with pytest.raises(TimeoutError, match="waiting for a message from the app"):
                await ws.receive(timeout=0.1)
            await ws.drop()
    assert seen == [{"type": "websocket.disconnect", "code": 1005}, {"type": "close returned"}]


async def _closes_right_after_accept(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    await asyncio.sleep(0)  # the client's handshake ends: it sends
    await send({"type": "websocket.close", "code": 4002, "reason": "two"})
    seen.append(await receive())


@pytest.mark.parametrize(
    ("server", "first_received"),
    [
        # uvicorn tells the app its own close at once: the message comes too late
        ("uvicorn", {"type": "websocket.disconnect", "code": 4002, "reason": "two"}),
        # hypercorn reads the client's frames up to its answer: the message first
        ("hypercorn", {"type": "websocket.receive", "bytes": None, "text": "early"}),
    ],
)
@pytest.mark.yaat_memory_only(
    "the turns a frame takes in memory; the corpus holds them to the servers"
)
async def test_a_message_the_client_sends_reaches_the_server_turns_later(
    server: str, first_received: Message
) -> None:
    # Sent as the handshake ends, while the app goes on to close: on a real server the
    # frame is still on its way when the close goes out (the generated corpus, 'race:
    # two tasks close at once, client sends').
    seen.clear()
    async with TestClient(_closes_right_after_accept, server=server, strict=False) as client:
        async with client.websocket_connect("/") as ws:
            await ws.send_text("early")
            assert (await ws.receive_close())[0] == 4002
    assert seen == [first_received]


async def _records_what_it_receives(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    while (message := await receive())["type"] != "websocket.disconnect":
        seen.append(message)


@pytest.mark.yaat_memory_only(
    "the turns a frame takes in memory; the corpus holds them to the servers"
)
@pytest.mark.parametrize(("server", "turns"), [("uvicorn", 1), ("daphne", 3)])
async def test_a_frame_reaches_an_app_waiting_in_receive_at_once_unless_read_in_a_thread(
    server: str, turns: int
) -> None:
    # daphne's Twisted reactor reads the socket in a thread of its own: the frame takes
    # its client_frame_turns (2), and the app's task one more to wake.
    seen.clear()
    async with TestClient(_records_what_it_receives, server=server) as client:
        async with client.websocket_connect("/") as ws:
            await asyncio.sleep(0)  # the app waits in receive()
            await ws.send_text("hi")
            for _ in range(turns - 1):
                await asyncio.sleep(0)
            assert seen == []
            await asyncio.sleep(0)
            assert seen == [{"type": "websocket.receive", "text": "hi"}]


async def _what_send_did(send: Send, message: Message) -> Message:
    """Whether the app's send() returned or raised: the error is the server's own live
    (wsproto's struct.error, hypercorn's UnexpectedMessageError), the harness's in memory."""
    try:
        await send(message)
    except Exception:
        return {"type": "raised"}
    return {"type": "returned"}


async def _refuses_its_close_then_waits(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    seen.append(await _what_send_did(send, {"type": "websocket.close", "code": "4001"}))
    seen.append(await receive())  # its own disconnect, queued before wsproto failed
    try:
        seen.append(await asyncio.wait_for(receive(), 0.2))
    except TimeoutError:
        seen.append({"type": "nothing came"})


async def test_wsproto_takes_the_clients_close_for_the_answer_to_a_close_it_refused() -> None:
    # uvicorn marks the close sent before wsproto refuses a str code; the client's close
    # then looks like the answer: the app is not told of it, and it is never answered.
    seen.clear()
    async with TestClient(
        _refuses_its_close_then_waits, server="uvicorn-wsproto", strict=False
    ) as client:
        async with client.websocket_connect("/") as ws:
            await ws.close(timeout=1.0)
    assert seen == [
        {"type": "raised"},
        {"type": "websocket.disconnect", "code": "4001", "reason": ""},
        {"type": "nothing came"},
    ]


async def _refuses_then_runs_on(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.close"})
    await asyncio.sleep(5)  # longer than the harness waits to learn why it refused
    seen.append({"type": "ran on"})


def test_an_app_that_refused_the_handshake_runs_on_as_on_a_server() -> None:
    from tests.fidelity.clock import run_on_virtual_clock  # five seconds take none

    async def scenario() -> None:
        async with TestClient(_refuses_then_runs_on) as client:
            with pytest.raises(WebSocketDenied, match="403"):
                async with client.websocket_connect("/"):
                    pass
            await asyncio.sleep(6)

    seen.clear()
    run_on_virtual_clock(scenario())
    assert seen == [{"type": "ran on"}]


async def _closes_then_closes_and_sends_again(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    await send({"type": "websocket.close", "code": 4000})
    for message in (
        {"type": "websocket.close", "code": 1001},  # a code autobahn refuses
        {"type": "websocket.close", "code": 4001},
        {"type": "websocket.send", "text": ""},
        {"type": "websocket.send", "text": "late"},
    ):
        seen.append(await _what_send_did(send, message))
    seen.append(await receive())
    await send({"type": "websocket.send", "text": "later"})  # the connection is gone
    seen.append({"type": "returned"})


async def test_daphne_checks_a_close_code_before_its_state_and_drops_empty_messages() -> None:
    # autobahn's sendClose checks the code first, and its sendMessage raises once the
    # close is sent; daphne drops an empty message before autobahn sees it, and ignores
    # everything once onClose has told the app the connection is gone.
    seen.clear()
    async with TestClient(
        _closes_then_closes_and_sends_again, server="daphne", strict=False
    ) as client:
        async with client.websocket_connect("/") as ws:
            assert await ws.receive_close() == (4000, "")
    assert seen == [
        {"type": "raised"},
        {"type": "returned"},
        {"type": "returned"},
        {"type": "raised"},
        {"type": "websocket.disconnect", "code": 4000},
        {"type": "returned"},
    ]


async def _closes_and_waits(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    await receive()  # the client's go
    await send({"type": "websocket.close", "code": 4000})
    seen.append(await receive())


@pytest.mark.parametrize(("paused", "code"), [(False, 4000), (True, 1006)])
async def test_on_daphne_a_client_that_does_not_read_never_answers_the_apps_close(
    paused: bool, code: int
) -> None:
    seen.clear()
    async with TestClient(_closes_and_waits, server="daphne") as client:
        async with client.websocket_connect("/") as ws:
            if paused:
                ws.pause_reading()
            await ws.send_text("go")
            await asyncio.sleep(0.01)
            await ws.drop()
    assert seen == [{"type": "websocket.disconnect", "code": code}]


async def _receives_in_two_tasks(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send(ACCEPT)
    other = asyncio.ensure_future(receive())
    await asyncio.sleep(0)
    mine = await receive()
    seen.extend([await other, mine])


async def test_on_granian_the_receives_that_wait_find_the_socket_closed() -> None:
    # Its receives wait in turn for the socket's reader: the first gets the client's
    # close, the next finds the socket closed.
    seen.clear()
    async with TestClient(_receives_in_two_tasks, server="granian") as client:
        async with client.websocket_connect("/") as ws:
            await ws.close(4000)
    assert seen == [
        {"type": "websocket.disconnect", "code": 4000},
        {"type": "websocket.disconnect", "code": 1005},
    ]


async def _refuses_then_closes_again(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.close"})
    seen.append(await receive())
    await send({"type": "websocket.close"})
    await send({"type": "websocket.close"})  # one wake-up at most
    other = asyncio.ensure_future(receive())
    seen.append(await receive())
    await asyncio.sleep(0.01)
    seen.append({"type": "still waiting"} if not other.done() else other.result())
    other.cancel()


async def test_on_granian_each_close_after_a_refusal_wakes_one_receive() -> None:
    seen.clear()
    async with TestClient(_refuses_then_closes_again, server="granian", strict=False) as client:
        with pytest.raises(WebSocketDenied):
            async with client.websocket_connect("/"):
                pass
        await asyncio.sleep(0.05)
    assert seen == [
        {"type": "websocket.disconnect", "code": 1005},
        {"type": "websocket.disconnect", "code": 1005},
        {"type": "still waiting"},
    ]


async def _refuses_then_sends(scope: Scope, receive: Receive, send: Send) -> None:
    await receive()
    await send({"type": "websocket.close"})
    seen.append(await _what_send_did(send, {"type": "websocket.send", "text": "late"}))
    seen.append(await receive())
    seen.append(await _what_send_did(send, {"type": "websocket.send", "text": "later"}))


async def test_hypercorn_tells_a_refusing_app_it_disconnected_as_its_stream_closes() -> None:
    # Its stream closes (and queues the disconnect) as its reader task reads the end of
    # the socket: until then a send raises, from then on it is ignored.
    seen.clear()
    async with TestClient(_refuses_then_sends, server="hypercorn", strict=False) as client:
        with pytest.raises(WebSocketDenied, match="403"):
            async with client.websocket_connect("/"):
                pass
    assert seen == [
        {"type": "raised"},  # (the server's own error live: hypercorn's UnexpectedMessageError)
        {"type": "websocket.disconnect", "code": 1000},
        {"type": "returned"},
    ]
