"""yaat_testing.client: configuration, lifespan modes, HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from yaat import Request, TextResponse, Yaat
from yaat.types import Receive, Scope, Send
from yaat_testing import ASGIProtocolError, LifespanFailed, TestClient


class Boom(Exception):
    pass


def test_test_client_is_not_collected_as_a_test() -> None:
    assert TestClient.__test__ is False


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lifespan": "maybe"}, "lifespan must be 'auto', 'on' or 'off', got 'maybe'"),
        ({"timeout": 0}, "timeout must be a positive number of seconds, got 0"),
        ({"timeout": True}, "timeout must be a positive number of seconds, got True"),
        (
            {"base_url": "ftp://x"},
            r"base_url must start with ws://, wss://, http:// or https://, got 'ftp://x'",
        ),
    ],
)
def test_bad_configuration_is_refused(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TestClient(Yaat(), **kwargs)


async def test_subprotocols_are_checked_as_a_real_client_checks_them() -> None:
    async with TestClient(Yaat()) as client:
        with pytest.raises(
            TypeError,
            match=r"subprotocols='chat' is a str, and a client takes a list: .* Instead, "
            r"pass subprotocols=\['chat'\]",
        ):
            client.websocket_connect("/", subprotocols="chat")
        with pytest.raises(TypeError, match=r"subprotocols holds 1, a int: each subprotocol"):
            client.websocket_connect("/", subprotocols=["chat", 1])  # type: ignore[list-item]
        with pytest.raises(TypeError, match=r"subprotocols takes a list of str, got set"):
            client.websocket_connect("/", subprotocols={"chat"})  # type: ignore[arg-type]
        with pytest.raises(
            ValueError, match=r"subprotocol 'a chat' cannot be offered: a subprotocol is an HTTP"
        ):
            client.websocket_connect("/", subprotocols=["a chat"])


@pytest.mark.yaat_memory_only("live mode serves plain ws:// only: there is no TLS on loopback")
async def test_wss_base_url_and_root_path_reach_the_scope() -> None:
    seen: dict[str, Any] = {}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            return
        seen.update(scheme=scope["scheme"], path=scope["path"], root=scope["root_path"])
        await send({"type": "websocket.close"})

    async with TestClient(app, base_url="wss://secure.test", root_path="/api") as client:
        with pytest.raises(Exception, match="403"):
            async with client.websocket_connect("/ws"):
                pass
    assert seen == {"scheme": "wss", "path": "/api/ws", "root": "/api"}


async def test_lifespan_on_reports_an_app_that_raises_at_once() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise Boom("no lifespan here")

    with pytest.raises(
        LifespanFailed,
        match=r"lifespan startup failed: the app raised before lifespan\.startup\.complete",
    ):
        async with TestClient(app, lifespan="on"):
            pass
    async with TestClient(app):  # "auto": treated as an app without lifespan, as uvicorn does
        pass


async def test_lifespan_off_never_calls_the_app() -> None:
    calls: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        calls.append(scope["type"])

    async with TestClient(app, lifespan="off"):
        pass
    assert calls == []


async def test_a_lifespan_message_of_the_wrong_type_names_the_rule() -> None:
    errors: list[BaseException] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        try:
            await send({"type": "websocket.accept"})
        except ASGIProtocolError as exc:
            errors.append(exc)
            raise

    async with TestClient(app):
        pass
    assert len(errors) == 1
    assert str(errors[0]).splitlines()[0] == (
        "[lifespan-message] lifespan send() got 'websocket.accept' (lifespan startup): "
        "send 'lifespan.startup.complete' or 'lifespan.startup.failed'."
    )


async def test_a_lifespan_startup_that_never_answers_times_out() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await receive()

    from yaat_testing import WebSocketTimeout

    with pytest.raises(
        WebSocketTimeout, match=r"timed out after 0.05s waiting for lifespan.startup.complete"
    ):
        async with TestClient(app, timeout=0.05):
            pass


async def test_http_goes_through_httpx_with_lifespan_state_and_defaults() -> None:
    async def lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await receive()
            scope["state"]["who"] = "lifespan"
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await app(scope, receive, send)

    app = Yaat()

    @app.route("/state")
    async def state(request: Request) -> TextResponse:
        return TextResponse(
            f"{request.state['who']} {request.headers['x-default']} {request.cookies['c']} {request.url}"
        )

    async with TestClient(lifespan_app, headers={"X-Default": "d"}, cookies={"c": "1"}) as client:
        response = await client.get("/state")
        assert response.text == "lifespan d 1 http://testserver/state"
        assert (await client.post("/state")).status_code == 405
    assert client._http is None  # closed on exit


async def test_http_app_exceptions_follow_raise_app_exceptions() -> None:
    app = Yaat()

    @app.route("/boom")
    async def boom(request: Request) -> TextResponse:
        raise Boom("http")

    async with TestClient(app) as client:
        with pytest.raises(Boom, match="http"):
            await client.get("/boom")
    async with TestClient(app, raise_app_exceptions=False) as client:
        assert (await client.get("/boom")).status_code == 500


async def test_cookie_names_that_cannot_be_sent_are_refused() -> None:
    async with TestClient(Yaat()) as client:
        with pytest.raises(
            ValueError, match=r"cookie name 'a b' cannot be sent in a Cookie header"
        ):
            client.websocket_connect("/", cookies={"a b": "1"})


async def test_cookie_values_are_quoted_or_refused_as_a_browser_would() -> None:
    async with TestClient(Yaat()) as client:
        with pytest.raises(ValueError, match=r"cookie a='x;y' cannot be sent in a Cookie header"):
            client.websocket_connect("/", cookies={"a": "x;y"})
