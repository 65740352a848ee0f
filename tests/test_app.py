"""yaat.app: lifespan, the WebSocket lifecycle as a client sees it, and minimal HTTP."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from yaat import HTMLResponse, JSONResponse, Request, Response, TextResponse, Yaat
from yaat.websockets import WebSocket, WebSocketDisconnect
from yaat_testing import LifespanFailed, TestClient, WebSocketDenied


class Boom(Exception):
    pass


# -- lifespan -------------------------------------------------------------------------


async def test_startup_and_shutdown_hooks_run_in_order_sync_and_async() -> None:
    calls: list[str] = []

    async def async_start() -> None:
        calls.append("async start")

    app = Yaat(
        on_startup=[lambda: calls.append("start"), async_start],
        on_shutdown=[lambda: calls.append("stop")],
    )
    async with TestClient(app):
        assert calls == ["start", "async start"]
    assert calls == ["start", "async start", "stop"]


async def test_a_lifespan_context_shares_state_with_handlers() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Yaat) -> AsyncIterator[dict[str, Any]]:
        events.append("enter")
        yield {"greeting": "hi"}
        events.append("exit")

    app = Yaat(lifespan=lifespan)

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.state["greeting"])

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "hi"
    assert events == ["enter", "exit"]


async def test_a_failing_startup_is_raised_clearly() -> None:
    def explode() -> None:
        raise Boom("database unreachable")

    app = Yaat(on_startup=[explode])
    with pytest.raises(
        LifespanFailed, match=r"(?s)lifespan startup failed: Traceback.*Boom: database unreachable"
    ) as caught:
        async with TestClient(app):
            pass
    assert isinstance(caught.value.__cause__, Boom)


async def test_a_failing_shutdown_is_raised_clearly() -> None:
    def explode() -> None:
        raise Boom("flush failed")

    app = Yaat(on_shutdown=[explode])
    with pytest.raises(LifespanFailed, match=r"(?s)lifespan shutdown failed: .*flush failed"):
        async with TestClient(app):
            pass


def test_hooks_must_be_callable() -> None:
    with pytest.raises(TypeError, match="on_startup and on_shutdown take callables, got 'nope'"):
        Yaat(on_startup=["nope"])  # type: ignore[list-item]


async def test_lifespan_state_needs_a_server_that_offers_it() -> None:
    @contextlib.asynccontextmanager
    async def lifespan(app: Yaat) -> AsyncIterator[dict[str, Any]]:
        yield {"x": 1}

    app = Yaat(lifespan=lifespan)
    sent: list[dict[str, Any]] = []
    incoming = [{"type": "lifespan.startup"}]

    async def receive() -> dict[str, Any]:
        return incoming.pop(0)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with pytest.raises(RuntimeError, match=r"the server offers no scope\['state'\]"):
        await app({"type": "lifespan"}, receive, send)
    assert sent[0]["type"] == "lifespan.startup.failed"


async def test_a_router_alone_answers_lifespan() -> None:
    from yaat import Router

    async with TestClient(Router(), lifespan="on"):
        pass


# -- WebSocket lifecycle --------------------------------------------------------------


async def test_an_unmatched_path_is_closed_before_accept_so_the_client_gets_403() -> None:
    async with TestClient(Yaat()) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 403") as caught:
            async with client.websocket_connect("/nowhere"):
                pass
    assert caught.value.status_code == 403


async def test_a_handler_that_returns_while_connected_gets_a_clean_close() -> None:
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert await ws.receive_close() == (1000, "")


async def test_a_handler_that_returns_before_accept_refuses_with_403() -> None:
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        return None

    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 403"):
            async with client.websocket_connect("/ws"):
                pass


def crashing_app(before_accept: bool) -> Yaat:
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        if not before_accept:
            await websocket.accept()
        raise Boom("handler crashed")

    return app


async def test_a_crash_after_accept_sends_1011_then_propagates() -> None:
    async with TestClient(crashing_app(before_accept=False), raise_app_exceptions=False) as client:
        async with client.websocket_connect("/ws") as ws:
            assert await ws.receive_close() == (1011, "")
    async with TestClient(crashing_app(before_accept=False)) as client:
        with pytest.raises(Boom, match="handler crashed"):
            async with client.websocket_connect("/ws") as ws:
                await ws.receive_text()


async def test_a_crash_before_accept_propagates_and_the_server_answers_500() -> None:
    async with TestClient(crashing_app(before_accept=True)) as client:
        with pytest.raises(Boom, match="handler crashed"):
            async with client.websocket_connect("/ws"):
                pass
    async with TestClient(crashing_app(before_accept=True), raise_app_exceptions=False) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 500") as caught:
            async with client.websocket_connect("/ws"):
                pass
    assert caught.value.status_code == 500


async def test_a_client_that_leaves_ends_the_handler_quietly() -> None:
    app = Yaat()
    ended: list[int] = []

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
        except WebSocketDisconnect as exc:
            ended.append(exc.code)
            raise

    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        await ws.close(4001, "bye")
    assert ended == [4001]


async def test_deny_sends_status_headers_and_body() -> None:
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.deny(401, "log in first", headers={"www-authenticate": "Bearer"})

    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 401") as caught:
            async with client.websocket_connect("/ws"):
                pass
    assert caught.value.status_code == 401
    assert caught.value.text == "log in first"
    assert caught.value.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.yaat_memory_only("uvicorn always advertises websocket.http.response")
async def test_deny_without_the_extension_is_403() -> None:
    app = Yaat()

    @app.websocket_route("/ws")
    async def handler(websocket: WebSocket) -> None:
        await websocket.deny(401, "log in first")

    async with TestClient(app, denial_response=False) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 403"):
            async with client.websocket_connect("/ws"):
                pass


# -- minimal HTTP ---------------------------------------------------------------------


def http_app() -> Yaat:
    app = Yaat()

    @app.route("/")
    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse("<h1>hi</h1>")

    @app.route("/items/{n}", methods=["POST"])
    async def item(request: Request, n: int) -> JSONResponse:
        return JSONResponse(
            {"n": n, "body": await request.json(), "q": request.query_params.get("q")},
            status_code=201,
        )

    @app.route("/echo", methods=["PUT"])
    async def echo(request: Request) -> TextResponse:
        return TextResponse(f"{request.method} {await request.text()} {request.cookies}")

    @app.route("/bad")
    async def bad(request: Request) -> str:
        return "not a response"

    return app


async def test_http_routes_responses_and_errors() -> None:
    async with TestClient(http_app()) as client:
        home = await client.get("/")
        assert (home.status_code, home.text, home.headers["content-type"]) == (
            200,
            "<h1>hi</h1>",
            "text/html; charset=utf-8",
        )
        item = await client.post("/items/3?q=x", json=[1])
        assert (item.status_code, item.json()) == (201, {"n": 3, "body": [1], "q": "x"})
        echo = await client.request("PUT", "/echo", content=b"data", headers={"cookie": "a=1"})
        assert echo.text == "PUT data {'a': '1'}"
        missing = await client.get("/missing")
        assert (missing.status_code, missing.text) == (404, "Not Found")
        wrong = await client.get("/items/3")
        assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")
        head = await client.request("HEAD", "/")
        assert head.status_code == 200
        with pytest.raises(
            TypeError, match=r"returned str; return a Response such as TextResponse"
        ):
            await client.get("/bad")


def test_responses_check_and_render() -> None:
    assert (
        Response(b"x", media_type="application/octet-stream").headers["content-type"]
        == "application/octet-stream"
    )
    assert JSONResponse({"é": 1}).body == '{"é":1}'.encode()
    assert TextResponse("x", headers={"Content-Type": "text/csv"}).headers.getlist(
        "content-type"
    ) == ["text/csv"]
    with pytest.raises(ValueError, match="status_code: HTTP status 600 is outside 100-599"):
        Response(status_code=600)
    with pytest.raises(TypeError, match="status_code: HTTP status must be an int"):
        Response(status_code="200")  # type: ignore[arg-type]


def test_a_request_needs_an_http_scope() -> None:
    async def receive() -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="Request needs an 'http' scope, got 'websocket'"):
        Request({"type": "websocket"}, receive)


async def test_a_request_body_arrives_in_parts_and_stops_at_disconnect() -> None:
    parts = [
        {"type": "http.request", "body": b"a", "more_body": True},
        {"type": "http.request", "body": b"b", "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> dict[str, Any]:
        return parts.pop(0)

    request = Request({"type": "http", "method": "POST"}, receive)
    assert await request.body() == b"ab"
    assert await request.body() == b"ab"


async def test_unknown_scope_types_are_refused() -> None:
    async def receive() -> dict[str, Any]:
        return {}

    async def send(message: dict[str, Any]) -> None:
        pass

    with pytest.raises(
        ValueError, match="yaat serves 'http', 'websocket' and 'lifespan' scopes, got 'mqtt'"
    ):
        await Yaat()({"type": "mqtt", "path": "/"}, receive, send)
