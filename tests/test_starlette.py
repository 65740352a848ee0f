"""yaat_testing drives any ASGI app: Starlette here, with its own routing and lifespan."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.endpoints import WebSocketEndpoint
from starlette.responses import PlainTextResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket as StarletteWebSocket

from yaat.websockets import WebSocketDisconnect
from yaat_testing import TestClient, WebSocketDenied


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
    yield {"motd": "welcome"}


async def echo(websocket: StarletteWebSocket) -> None:
    await websocket.accept(
        subprotocol="chat" if "chat" in websocket.scope["subprotocols"] else None
    )
    await websocket.send_text(websocket.state.motd)
    async for text in websocket.iter_text():
        if text == "bye":
            await websocket.close(code=4000, reason="asked")
            return
        await websocket.send_text(text.upper())


async def deny(websocket: StarletteWebSocket) -> None:
    await websocket.send_denial_response(PlainTextResponse("go away", status_code=401))


async def health(request: object) -> PlainTextResponse:
    return PlainTextResponse("ok")


app = Starlette(
    routes=[WebSocketRoute("/ws", echo), WebSocketRoute("/deny", deny), Route("/health", health)],
    lifespan=lifespan,
)


async def test_starlette_echo_with_lifespan_state_and_subprotocol() -> None:
    async with (
        TestClient(app) as client,
        client.websocket_connect("/ws", subprotocols=["chat"]) as ws,
    ):
        assert ws.subprotocol == "chat"
        assert await ws.receive_text() == "welcome"
        await ws.send_text("hi")
        assert await ws.receive_text() == "HI"
        await ws.send_text("bye")
        with pytest.raises(WebSocketDisconnect, match="4000: asked"):
            await ws.receive_text()


async def test_starlette_denial_response_and_404_websocket() -> None:
    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 401") as caught:
            async with client.websocket_connect("/deny"):
                pass
        assert caught.value.text == "go away"
        with pytest.raises(WebSocketDenied, match="HTTP 403"):
            async with client.websocket_connect("/missing"):
                pass
        assert (await client.get("/health")).text == "ok"


class ClosingEndpoint(WebSocketEndpoint):
    """Closes in on_disconnect, as Starlette's own endpoint tests do."""

    encoding = "text"

    async def on_receive(self, websocket: StarletteWebSocket, data: str) -> None:
        await websocket.send_text(f"got {data}")

    async def on_disconnect(self, websocket: StarletteWebSocket, close_code: int) -> None:
        seen.append(close_code)
        await websocket.close()  # after the client's close: the server ignores it


seen: list[int] = []


async def test_a_close_after_the_clients_close_is_ignored_as_on_uvicorn() -> None:
    seen.clear()
    endpoint_app = Starlette(routes=[WebSocketRoute("/ws", ClosingEndpoint)])
    async with TestClient(endpoint_app) as client:
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "got hi"
    assert seen == [1000]


# -- yaat_testing.starlette: the drop-in for Starlette's and FastAPI's TestClient -------

import contextvars  # noqa: E402

import httpx  # noqa: E402
from starlette.testclient import WebSocketDenialResponse  # noqa: E402
from starlette.websockets import WebSocketDisconnect as StarletteDisconnect  # noqa: E402

from yaat_testing import ASGIProtocolError, Strict  # noqa: E402
from yaat_testing.starlette import TestClient as DropIn  # noqa: E402

who = contextvars.ContextVar("who", default="nobody")


async def details(websocket: StarletteWebSocket) -> None:
    if websocket.query_params.get("refuse") == "close":
        await websocket.close(code=1008, reason="not you")
        return
    await websocket.accept(
        subprotocol="chat" if "chat" in websocket.scope["subprotocols"] else None,
        headers=[(b"x-extra", b"1")],
    )
    await websocket.send_json(
        {
            "q": websocket.query_params.get("q"),
            "cookie": websocket.cookies.get("c"),
            "auth": websocket.headers.get("authorization"),
            "custom": websocket.headers.get("x-custom"),
            "who": who.get(),
            "motd": getattr(websocket.state, "motd", None),
        }
    )
    data = await websocket.receive_json(mode="binary")
    await websocket.send_json(data, mode="binary")
    await websocket.close(4000, "done")


dropin_app = Starlette(routes=[WebSocketRoute("/d", details)], lifespan=lifespan)


def test_the_drop_in_takes_starlettes_arguments_and_names() -> None:
    token = who.set("the test")
    try:
        client = DropIn(dropin_app, cookies={"c": "biscuit"}, headers={"x-custom": "yes"})
        with client:  # Starlette's own lifespan, in Starlette's portal
            with client.websocket_connect(
                "/d", subprotocols=["chat"], params={"q": "1"}, auth=("user", "pw")
            ) as websocket:
                assert websocket.accepted_subprotocol == "chat"
                assert websocket.extra_headers == [(b"x-extra", b"1")]
                assert websocket.receive_json() == {
                    "q": "1",
                    "cookie": "biscuit",
                    "auth": httpx.BasicAuth("user", "pw")._auth_header,
                    "custom": "yes",
                    "who": "the test",
                    "motd": "welcome",
                }
                websocket.send_json({"x": 1}, mode="binary")
                assert websocket.receive_json(mode="binary") == {"x": 1}
                with pytest.raises(StarletteDisconnect) as closed:
                    websocket.receive_text()
                assert (closed.value.code, closed.value.reason) == (4000, "done")
        with client.websocket_connect("/d") as websocket:  # outside `with`: a portal of its own
            assert websocket.receive_json()["cookie"] == "biscuit"
            websocket.send_bytes(b"[]")
            assert websocket.receive_bytes() == b"[]"
    finally:
        who.reset(token)


def test_a_close_before_accept_is_a_403_that_keeps_the_apps_code() -> None:
    client = DropIn(dropin_app)
    with pytest.raises(StarletteDisconnect) as caught:  # still a WebSocketDisconnect
        with client.websocket_connect("/d?refuse=close"):
            pass
    denied = caught.value
    assert isinstance(denied, WebSocketDenialResponse)
    assert (denied.status_code, denied.content) == (403, b"")
    assert (denied.code, denied.reason) == (1008, "not you")
    assert (
        "the app closed with 1008 'not you' before accepting; a real server answers HTTP 403"
        in str(denied)
    )


def test_denial_responses_and_app_exceptions_are_starlettes() -> None:
    client = DropIn(app)
    with pytest.raises(WebSocketDenialResponse) as caught:
        with client.websocket_connect("/deny"):
            pass
    assert (caught.value.status_code, caught.value.content) == (401, b"go away")
    assert caught.value.headers["content-type"].startswith("text/plain")

    async def broken(websocket: StarletteWebSocket) -> None:
        raise KeyError("broken")

    crashing = Starlette(routes=[WebSocketRoute("/", broken)])
    with pytest.raises(KeyError, match="broken"):
        with DropIn(crashing).websocket_connect("/"):
            pass
    with pytest.raises(WebSocketDenialResponse) as caught:
        with DropIn(crashing, raise_server_exceptions=False).websocket_connect("/"):
            pass
    assert caught.value.status_code == 500


def test_strict_timeout_backend_and_every_other_name() -> None:
    async def early(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "x"})

    with pytest.raises(ASGIProtocolError, match=r"\[send-before-accept\]"):
        with DropIn(early).websocket_connect("/"):
            pass
    with pytest.raises(WebSocketDenialResponse):  # uvicorn: RuntimeError in send, then 500
        with DropIn(
            early, strict=Strict.of(False), raise_server_exceptions=False
        ).websocket_connect("/"):
            pass
    with pytest.raises(ValueError, match=r"backend must be 'asyncio' or 'trio', got 'curio'"):
        DropIn(app, backend="curio")  # type: ignore[arg-type]
    from yaat_testing import starlette as dropin_module

    assert dropin_module.ASGIInstance is not None  # any name of starlette.testclient
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        dropin_module.nothing_here  # noqa: B018


# -- wherever Starlette's client works: async tests, trio, inside and outside `with` ------

import enum  # noqa: E402
import threading  # noqa: E402

import trio  # noqa: E402


class Reason(str, enum.Enum):
    NO_SESSION = "MARIMO_NO_SESSION_ID"


class Code(enum.IntEnum):
    GONE = 4001


async def hooks(websocket: StarletteWebSocket) -> None:
    websocket.scope["user"] = "ada"  # a connection hook writes to the scope
    if websocket.query_params.get("refuse"):
        await websocket.close(Code.GONE, Reason.NO_SESSION)
        return
    await websocket.accept(
        subprotocol="graphql-ws" if "graphql-ws" in websocket.scope["subprotocols"] else None
    )
    await websocket.send_text(f"{who.get()} on {threading.current_thread().name}")
    while (text := await websocket.receive_text()) != "enum":
        await websocket.send_text(text)
    await websocket.close(Code.GONE, Reason.NO_SESSION)


hooks_app = Starlette(routes=[WebSocketRoute("/h", hooks)], lifespan=lifespan)


def play(client: DropIn) -> None:
    with client.websocket_connect("/h", ["graphql-ws"]) as ws:
        assert ws.receive_text().startswith("the test on ")
        assert ws.scope["user"] == "ada"  # the very dict the app got
        assert ws.app is client.app
        assert ws.accepted_subprotocol == "graphql-ws"
        assert ws.extra_headers == []  # what the app sent, as Starlette keeps it
        assert ws.portal is (client.portal or ws.portal)
        assert ws.portal_factory == client._portal_factory
        ws.send_text("x")
        assert ws.receive_text() == "x"
        ws.send_text("enum")
        with pytest.raises(StarletteDisconnect) as closed:
            ws.receive_text()
        assert (closed.value.code, closed.value.reason) == (4001, "MARIMO_NO_SESSION_ID")
        assert type(closed.value.reason) is str  # the value, as a client receives it
    with pytest.raises(WebSocketDenialResponse) as denied:
        with client.websocket_connect("/h?refuse=1"):
            pass
    assert (denied.value.code, denied.value.reason) == (4001, "MARIMO_NO_SESSION_ID")
    assert type(denied.value.reason) is str


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_both_backends_inside_and_outside_with_client(backend: str) -> None:
    token = who.set("the test")
    try:
        client = DropIn(hooks_app, backend=backend)  # type: ignore[arg-type]
        play(client)
        with client:
            play(client)
    finally:
        who.reset(token)


async def test_from_an_async_test_as_starlette_allows() -> None:
    token = who.set("the test")
    try:
        client = DropIn(hooks_app)
        play(client)  # the app runs in a loop of its own; this test's loop waits
        with client:
            play(client)
    finally:
        who.reset(token)


@pytest.mark.parametrize("backend", ["asyncio", "trio"])
def test_from_inside_a_trio_run(backend: str) -> None:
    async def main() -> None:
        token = who.set("the test")
        try:
            client = DropIn(hooks_app, backend=backend)  # type: ignore[arg-type]
            play(client)
            with client:  # where Starlette's own client hangs on backend="trio"
                play(client)
                assert client.get("/missing").status_code == 404
        finally:
            who.reset(token)

    trio.run(main)


def test_a_str_for_subprotocols_is_the_tests_mistake() -> None:
    with pytest.raises(
        TypeError, match=r"subprotocols='graphql-ws' is a str, .* Instead, pass subprotocols="
    ):
        DropIn(hooks_app).websocket_connect("/h", "graphql-ws")  # type: ignore[arg-type]


def test_the_handshake_carries_what_httpx_would_send() -> None:
    from yaat_testing.starlette import _HANDSHAKE_HEADERS

    def extra(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
        return [(k.lower(), v) for k, v in headers if k.lower() not in _HANDSHAKE_HEADERS]

    client = DropIn(dropin_app, headers={"x-custom": "yes"})
    quick = client.websocket_connect("/d").scope["headers"]  # no arguments: no httpx call
    request = client.build_request("GET", "ws://testserver/d")
    assert extra(quick) == extra(request.headers.raw)
    client.cookies.set("c", "biscuit")
    with_cookie = client.websocket_connect("/d", params={"q": "1"}).scope
    assert (b"cookie", b"c=biscuit") in with_cookie["headers"]
    assert with_cookie["query_string"] == b"q=1"


def test_every_public_name_of_starlettes_session_and_client_is_here() -> None:
    from starlette import testclient as theirs

    from yaat_testing import starlette as ours

    session = DropIn(hooks_app).websocket_connect("/h")
    for name in dir(theirs.WebSocketTestSession):
        if not name.startswith("_"):
            assert hasattr(session, name), name
    for name in ("app", "scope", "accepted_subprotocol", "portal_factory", "extra_headers"):
        assert hasattr(session, name), name  # Starlette's instance attributes
    for name in dir(theirs.TestClient):
        if not name.startswith("_"):
            assert hasattr(ours.TestClient, name), name


def test_sessions_open_at_once_share_one_loop_as_on_a_server() -> None:
    import asyncio

    from starlette.responses import JSONResponse
    from starlette.routing import Route

    loops: list[object] = []

    async def ws(websocket: StarletteWebSocket) -> None:
        loops.append(asyncio.get_running_loop())
        await websocket.accept()
        await websocket.send_text("hi")
        await websocket.receive()  # the disconnect

    async def page(request: object) -> JSONResponse:
        loops.append(asyncio.get_running_loop())
        return JSONResponse({})

    shared = Starlette(routes=[WebSocketRoute("/ws", ws), Route("/page", page)])
    client = DropIn(shared)
    with client.websocket_connect("/ws") as first, client.websocket_connect("/ws") as second:
        assert first.receive_text() == second.receive_text() == "hi"
        assert client.get("/page").status_code == 200  # in the sessions' loop too
    assert loops[0] is loops[1] is loops[2]
    assert client._shared is None  # the last session to close stopped it
