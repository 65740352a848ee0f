"""yaat_testing.sync: the blocking API in plain ``def`` tests, and what it keeps."""

from __future__ import annotations

import contextvars
import threading

import pytest

from yaat import Yaat
from yaat.websockets import WebSocket, WebSocketDisconnect
from yaat_testing import (
    ASGIProtocolError,
    TestClient,
    WebSocketDenied,
    WebSocketTimeout,
)
from yaat_testing.sync import SyncTestClient, SyncWebSocketSession

caller = contextvars.ContextVar("caller", default="unset")


class Boom(Exception):
    pass


def build_app() -> Yaat:
    app = Yaat()

    @app.websocket_route("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept(subprotocol="chat" if "chat" in websocket.subprotocols else None)
        await websocket.send_text(f"hello {caller.get()}")
        async for text in websocket.iter_text():
            if text == "boom":
                raise Boom("asked to")
            await websocket.send_json({"echo": text})

    @app.websocket_route("/deny")
    async def deny(websocket: WebSocket) -> None:
        await websocket.deny(401, "log in first")

    @app.websocket_route("/silent")
    async def silent(websocket: WebSocket) -> None:
        await websocket.accept()
        async for _ in websocket.iter_text():
            pass

    @app.route("/health")
    async def health(request: object) -> object:
        from yaat.responses import TextResponse

        return TextResponse("ok")

    return app


def test_the_same_session_api_blocking_in_a_plain_test() -> None:
    token = caller.set("from the test")
    try:
        with TestClient(build_app()) as client:
            assert isinstance(client, SyncTestClient)
            assert client.get("/health").text == "ok"
            with client.websocket_connect("/echo", subprotocols=["chat"]) as ws:
                assert isinstance(ws, SyncWebSocketSession)
                assert ws.subprotocol == "chat"
                assert ws.receive_text() == "hello from the test"  # the caller's contextvars
                ws.send_text("hi")
                assert ws.receive_json() == {"echo": "hi"}
                ws.send_text("again")
                assert ws.receive_matching(lambda d: d["echo"] == "again", decode="json")
                ws.assert_nothing_received(0.01)
                assert "client→app" in str(ws.transcript)
            assert ws.close_code == 1000
    finally:
        caller.reset(token)


def test_app_exceptions_denials_and_timeouts_behave_as_in_the_async_api() -> None:
    with TestClient(build_app(), timeout=0.1) as client:
        with pytest.raises(Boom, match="asked to"):
            with client.websocket_connect("/echo") as ws:
                ws.receive_text()
                ws.send_text("boom")
                ws.receive_text()
        with pytest.raises(WebSocketDenied, match="HTTP 401") as denied:
            with client.websocket_connect("/deny"):
                pass
        assert denied.value.text == "log in first"
        with client.websocket_connect("/silent") as ws:
            with pytest.raises(WebSocketTimeout, match="a message from the app"):
                ws.receive_text()
            ws.close(4000)
            with pytest.raises(WebSocketDisconnect, match="4000"):
                ws.receive_text()


def test_strictness_is_the_async_apis() -> None:
    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] == "websocket":
            await receive()  # type: ignore[operator]
            await send({"type": "websocket.send", "text": "too early"})  # type: ignore[operator]

    with TestClient(app) as client:
        with pytest.raises(ASGIProtocolError, match=r"\[send-before-accept\]"):
            with client.websocket_connect("/"):
                pass


def _portal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "yaat_testing portal"]


def test_the_app_runs_in_the_test_thread_during_calls_and_on_its_own_between_them() -> None:
    import time

    seen: list[str] = []

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        import asyncio

        if scope["type"] != "websocket":
            return
        await receive()  # type: ignore[operator]
        seen.append(threading.current_thread().name)
        await send({"type": "websocket.accept"})  # type: ignore[operator]
        await asyncio.sleep(0.02)  # nobody calls meanwhile: the pump runs it
        seen.append(threading.current_thread().name)
        await receive()  # type: ignore[operator]

    with TestClient(app) as client:
        assert _portal_threads() == []  # a plain test borrows the loop: no thread yet
        with client.websocket_connect("/"):
            time.sleep(0.1)  # the test computes; the app goes on, as on a real server
        assert seen == [threading.current_thread().name, "yaat_testing portal"]
    assert _portal_threads() == []  # the pump is joined when the block ends


async def test_the_sync_api_works_inside_a_running_loop() -> None:
    with TestClient(build_app()) as client:  # an async test calling it, as Starlette allows
        assert client.get("/health").text == "ok"
        with client.websocket_connect("/echo") as ws:
            assert ws.receive_text() == "hello unset"
            ws.send_text("hi")
            assert ws.receive_json() == {"echo": "hi"}
    assert _portal_threads() == []


def test_a_sync_session_from_inside_a_loop_and_from_the_app_itself() -> None:
    import asyncio

    with TestClient(build_app()) as client, client.websocket_connect("/echo") as ws:
        ws.receive_text()

        async def from_an_async_function() -> object:
            ws.send_text("inside")
            return ws.receive_json()

        assert asyncio.run(from_an_async_function()) == {"echo": "inside"}

    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        if scope["type"] == "websocket":
            await receive()  # type: ignore[operator]
            with client.websocket_connect("/"):  # the app calls the blocking API: refused
                pass

    with TestClient(app) as client:
        with pytest.raises(
            RuntimeError, match=r"from inside the portal's own loop would wait for itself"
        ):
            with client.websocket_connect("/"):
                pass


def test_exit_without_enter_is_an_error() -> None:
    with pytest.raises(RuntimeError, match=r"__exit__\(\) without a `with TestClient"):
        TestClient(build_app()).__exit__(None, None, None)


async def test_from_an_async_test_sends_cross_and_failures_come_at_the_next_call() -> None:
    with TestClient(build_app(), timeout=0.2) as client:
        assert client.app is client.client.app
        assert client.live is client.client.live
        assert client.state == {}
        assert client.post("/health").status_code == 405
        with client.websocket_connect("/echo", subprotocols=["chat"]) as ws:
            assert ws.receive()["text"] == "hello unset"
            assert (ws.subprotocol, ws.accept_headers.raw, ws.state.name) == (
                "chat",
                [],
                "CONNECTED",
            )
            ws.send({"type": "websocket.receive", "text": "raw"})
            assert ws.receive_json(mode="text") == {"echo": "raw"}
            with pytest.raises(ValueError, match=r"mode must be 'text' or 'bytes'"):
                ws.receive_json(mode="binary")  # type: ignore[arg-type]
            with pytest.raises(WebSocketTimeout, match=r"after 0.05s waiting"):
                ws.receive_text(timeout=0.05)  # the whole wait is named, not what was left
            ws.send_text("boom")  # handed to the loop: the app fails there
            with pytest.raises(Boom, match="asked to"):
                ws.receive_text()
        with client.websocket_connect("/echo") as ws:
            ws.receive_text()
            ws.close(4001, "bye")
            assert (ws.close_code, ws.close_reason) == (4001, "bye")


def test_receive_close_reports_the_apps_close() -> None:
    async def app(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
        await receive()  # type: ignore[operator]
        await send({"type": "websocket.accept"})  # type: ignore[operator]
        await send({"type": "websocket.close", "code": 4000, "reason": "done"})  # type: ignore[operator]

    with TestClient(app, lifespan="off") as client, client.websocket_connect("/") as ws:
        assert tuple(ws.receive_close()) == (4000, "done")
