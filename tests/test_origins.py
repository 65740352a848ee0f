"""yaat.origins, and the Origin check of WebSocket routes (in memory, and live)."""

from __future__ import annotations

import pytest

from yaat import Router, WebSocket, Yaat
from yaat.origins import OriginPolicy, parse_origin
from yaat_testing import TestClient, WebSocketDenied


@pytest.mark.parametrize(
    ("value", "parsed"),
    [
        ("https://Example.COM", ("https", "example.com", 443)),
        ("http://example.com:80", ("http", "example.com", 80)),
        ("http://127.0.0.1:8000/", ("http", "127.0.0.1", 8000)),
        ("http://[::1]:9000", ("http", "::1", 9000)),
        ("null", None),
        ("https://example.com/path", None),
        ("https://example.com?q", None),
        ("https://user@example.com", None),
        ("ftp://example.com", None),
        ("example.com", None),
        ("http://example.com:99999", None),
    ],
)
def test_origins_are_parsed_and_normalised(value: str, parsed: tuple[str, str, int] | None) -> None:
    assert parse_origin(value) == parsed


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "allowed"),
    [
        (None, "example.com", "ws", True),  # not a browser
        ("http://example.com", "example.com", "ws", True),
        ("http://example.com", "example.com:80", "ws", True),
        ("https://example.com", "example.com", "wss", True),
        ("http://localhost:8000", "localhost:8000", "ws", True),
        ("http://LOCALHOST:8000", "localhost:8000", "ws", True),
        ("http://localhost:8001", "localhost:8000", "ws", False),  # another port
        ("https://example.com", "example.com", "ws", False),  # TLS ended before: 443 != 80
        ("http://evil.example", "example.com", "ws", False),
        ("http://example.com.evil.example", "example.com", "ws", False),
        ("null", "example.com", "ws", False),
        ("not an origin", "example.com", "ws", False),
        ("http://example.com", None, "ws", False),  # no Host: nothing to compare
    ],
)
def test_by_default_only_the_same_origin(
    origin: str | None, host: str | None, scheme: str, allowed: bool
) -> None:
    assert OriginPolicy().allows(origin, host=host, scheme=scheme) is allowed


def test_an_allow_list_allows_what_it_lists_whatever_the_host() -> None:
    policy = OriginPolicy(["https://app.example.com", "http://localhost:3000", "null"])
    assert policy.allows("https://APP.example.com:443", host="api.example.com", scheme="wss")
    assert policy.allows("http://localhost:3000", host="api.example.com", scheme="wss")
    assert policy.allows("null", host="api.example.com", scheme="wss")
    assert not policy.allows("https://api.example.com", host="api.example.com", scheme="wss")
    assert OriginPolicy(["*"]).allows("https://anything.example", host="x", scheme="ws")
    assert not OriginPolicy([]).allows("http://x", host="x", scheme="ws")  # only non-browsers
    assert repr(policy) == (
        "OriginPolicy(['http://localhost:3000', 'https://app.example.com:443', 'null'])"
    )
    assert repr(OriginPolicy()) == "OriginPolicy(same origin)"


def test_a_bad_allow_list_is_refused_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"'https://example.com/chat' is not an origin; write"):
        OriginPolicy(["https://example.com/chat"])
    with pytest.raises(TypeError, match=r"takes a list of origins, got the str .*write \["):
        OriginPolicy("https://example.com")


# -- on a route, in memory and live -------------------------------------------------------


def make_app(**settings: object) -> tuple[Yaat, list[str]]:
    reached: list[str] = []
    app = Yaat(**settings)  # type: ignore[arg-type]

    @app.websocket_route("/ws")
    async def ws(websocket: WebSocket) -> None:
        reached.append("/ws")
        await websocket.accept()
        await websocket.send_text("welcome")

    @app.websocket_route("/open", allowed_origins=["*"])
    async def open_route(websocket: WebSocket) -> None:
        reached.append("/open")
        await websocket.accept()
        await websocket.send_text("welcome")

    return app, reached


async def test_a_page_of_another_site_gets_403_before_the_handler_runs() -> None:
    app, reached = make_app()
    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied) as denied:
            async with client.websocket_connect("/ws", headers={"origin": "http://evil.example"}):
                pass
        assert denied.value.status_code == 403
        assert reached == []
        # The same origin (the test client's host), and a client without Origin.
        for headers in ({"origin": "http://testserver"}, {}):
            async with client.websocket_connect("/ws", headers=headers) as ws:
                assert await ws.receive_text() == "welcome"
        assert reached == ["/ws", "/ws"]


async def test_a_route_overrides_the_apps_origins() -> None:
    app, reached = make_app(allowed_origins=["https://chat.example.com"])
    async with TestClient(app) as client:
        async with client.websocket_connect(
            "/ws", headers={"origin": "https://chat.example.com"}
        ) as ws:
            assert await ws.receive_text() == "welcome"
        with pytest.raises(WebSocketDenied, match="403"):
            async with client.websocket_connect("/ws", headers={"origin": "http://testserver"}):
                pass
        async with client.websocket_connect(
            "/open", headers={"origin": "http://evil.example"}
        ) as ws:
            assert await ws.receive_text() == "welcome"
    assert reached == ["/ws", "/open"]


async def test_a_mounted_router_inherits_the_origins_unless_it_has_its_own() -> None:
    app = Yaat(allowed_origins=["https://a.example"])
    inherits, own = Router(), Router(allowed_origins=["https://b.example"])
    for router in (inherits, own):

        @router.websocket_route("/ws")
        async def ws(websocket: WebSocket) -> None:
            await websocket.accept()
            await websocket.close()

    app.mount("/inherits", inherits)
    app.mount("/own", own)
    async with TestClient(app) as client:
        for path, origin, ok in [
            ("/inherits/ws", "https://a.example", True),
            ("/inherits/ws", "https://b.example", False),
            ("/own/ws", "https://b.example", True),
            ("/own/ws", "https://a.example", False),
        ]:
            if ok:
                async with client.websocket_connect(path, headers={"origin": origin}) as ws:
                    assert (await ws.receive_close()).code == 1000
            else:
                with pytest.raises(WebSocketDenied, match="403"):
                    async with client.websocket_connect(path, headers={"origin": origin}):
                        pass


async def test_the_demo_refuses_cross_site_pages() -> None:
    from examples.chat import app

    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match="403"):
            async with client.websocket_connect(
                "/ws/lobby", headers={"origin": "http://evil.example"}
            ):
                pass
        async with client.websocket_connect(
            "/ws/lobby?name=ada", headers={"origin": "http://testserver"}
        ) as ws:
            assert (await ws.receive_json())["type"] == "join"
