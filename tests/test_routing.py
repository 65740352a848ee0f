"""yaat.routing: registration checks, path parameters, mounts, lookup."""

from __future__ import annotations

from typing import Any

import pytest

from yaat import Request, Router, TextResponse, Yaat
from yaat.routing import Param, route_segments, split_template
from yaat.websockets import WebSocket
from yaat_testing import TestClient, WebSocketDenied


async def echo_params(websocket: WebSocket, **params: Any) -> None:
    await websocket.accept()
    await websocket.send_json({"params": params, "path_params": websocket.path_params})


async def receive_params(app: Any, path: str) -> Any:
    async with TestClient(app) as client, client.websocket_connect(path) as ws:
        return await ws.receive_json()


# -- registration ---------------------------------------------------------------------


def test_a_handler_must_be_async() -> None:
    def handler(websocket: WebSocket) -> None: ...

    with pytest.raises(
        TypeError,
        match=r"handler must be an async function: write 'async def handler\(websocket\): ...'",
    ):
        Router().add_websocket_route("/ws", handler)  # type: ignore[arg-type]


def test_a_handler_must_take_the_websocket() -> None:
    async def handler() -> None: ...

    with pytest.raises(TypeError, match=r"must take the websocket as its first argument"):
        Router().add_websocket_route("/ws", handler)


def test_a_handler_with_an_unknown_required_parameter_is_refused() -> None:
    async def handler(websocket: WebSocket, user: str) -> None: ...

    with pytest.raises(
        TypeError,
        match=r"parameter 'user' is neither a path parameter \(the path has \['room'\]\) nor optional",
    ):
        Router().add_websocket_route("/ws/{room}", handler)


def test_a_path_parameter_annotation_must_be_str_int_or_float() -> None:
    async def handler(websocket: WebSocket, room: list) -> None: ...  # type: ignore[type-arg]

    with pytest.raises(
        TypeError, match=r"path parameter 'room' is annotated list; use str, int or float"
    ):
        Router().add_websocket_route("/ws/{room}", handler)


def test_a_duplicate_websocket_path_raises() -> None:
    router = Router()
    router.add_websocket_route("/ws/{room}", echo_params)
    with pytest.raises(
        ValueError,
        match=r"WebSocket route '/ws/\{other\}' is already registered \(to echo_params\)",
    ):
        router.add_websocket_route("/ws/{other}", echo_params)


def test_a_duplicate_http_route_raises_per_method() -> None:
    async def page(request: Request) -> TextResponse:
        return TextResponse("")

    router = Router()
    router.add_route("/", page)
    router.add_route("/", page, methods=["POST"])
    with pytest.raises(ValueError, match=r"route '/' is already registered for GET, HEAD"):
        router.add_route("/", page)


def test_http_and_websocket_routes_may_share_a_path() -> None:
    async def page(request: Request) -> TextResponse:
        return TextResponse("")

    router = Router()
    router.add_route("/ws", page)
    router.add_websocket_route("/ws", echo_params)
    assert [kind for kind, _, _ in router.routes] == ["http", "websocket"]


def test_unknown_methods_are_refused() -> None:
    async def page(request: Request) -> TextResponse:
        return TextResponse("")

    with pytest.raises(ValueError, match=r"unknown methods \['FETCH'\]"):
        Router().add_route("/", page, methods=["fetch"])


def test_a_path_must_be_a_string() -> None:
    with pytest.raises(
        TypeError, match=r"add_websocket_route\(path, handler\) takes the path first"
    ):
        Router().add_websocket_route(42, echo_params)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["/ws/{room", "/ws/x{room}", "/ws/{1room}"])
def test_a_parameter_must_fill_a_whole_segment(path: str) -> None:
    with pytest.raises(ValueError, match="a parameter fills a whole segment"):
        Router().add_websocket_route(path, echo_params)


def test_a_parameter_named_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="names a path parameter twice"):
        split_template("/{a}/{a}")


def test_templates_are_normalised() -> None:
    assert split_template("ws/{room}") == ["ws", Param("room", str)]
    assert split_template("/") == []


# -- path parameters ------------------------------------------------------------------


async def test_parameters_are_converted_by_annotation_and_passed_by_name() -> None:
    app = Yaat()

    @app.websocket_route("/rooms/{room}/{seat}/{ratio}")
    async def handler(websocket: WebSocket, room: str, seat: int, ratio: float) -> None:
        await websocket.accept()
        await websocket.send_json([room, seat, ratio, websocket.path_params])

    assert await receive_params(app, "/rooms/blue/7/0.5") == [
        "blue",
        7,
        0.5,
        {"room": "blue", "seat": 7, "ratio": 0.5},
    ]


async def test_string_annotations_from_future_import_are_understood() -> None:
    async def handler(websocket: WebSocket, seat: int) -> None:
        await websocket.accept()
        await websocket.send_json(seat)

    app = Yaat()
    app.add_websocket_route("/{seat}", handler)
    assert await receive_params(app, "/12") == 12


async def test_unnamed_parameters_are_only_in_path_params() -> None:
    app = Yaat()

    @app.websocket_route("/rooms/{room}")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json(websocket.path_params)

    assert await receive_params(app, "/rooms/r1") == {"room": "r1"}


@pytest.mark.parametrize("segment", ["x", "1.5", " 1", "1_000", "\u0661"])
async def test_a_failed_conversion_is_a_non_match(segment: str) -> None:
    app = Yaat()

    @app.websocket_route("/seat/{seat}")
    async def handler(websocket: WebSocket, seat: int) -> None:
        await websocket.accept()

    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match="HTTP 403"):
            async with client.websocket_connect(f"/seat/{segment}"):
                pass


async def test_a_failed_conversion_falls_through_to_the_next_route() -> None:
    app = Yaat()

    @app.websocket_route("/item/{n}")
    async def numbered(websocket: WebSocket, n: int) -> None:
        await websocket.accept()
        await websocket.send_json(["int", n])

    @app.websocket_route("/item/{name}")
    async def named(websocket: WebSocket, name: str) -> None:
        await websocket.accept()
        await websocket.send_json(["str", name])

    assert await receive_params(app, "/item/3") == ["int", 3]
    assert await receive_params(app, "/item/three") == ["str", "three"]


async def test_float_parameters_refuse_nan_and_inf() -> None:
    app = Yaat()

    @app.websocket_route("/f/{x}")
    async def handler(websocket: WebSocket, x: float) -> None:
        await websocket.accept()
        await websocket.send_json(x)

    assert await receive_params(app, "/f/-1e3") == -1000.0
    async with TestClient(app) as client:
        for bad in ("nan", "inf"):
            with pytest.raises(WebSocketDenied, match="403"):
                async with client.websocket_connect(f"/f/{bad}"):
                    pass


async def test_percent_encoding_is_decoded_and_an_encoded_slash_stays_in_its_segment() -> None:
    app = Yaat()
    app.add_websocket_route("/files/{name}", echo_params)
    assert await receive_params(app, "/files/a%20b%2Fc%C3%A9") == {
        "params": {"name": "a b/cé"},
        "path_params": {"name": "a b/cé"},
    }


async def test_static_segments_win_over_parameters() -> None:
    app = Yaat()

    @app.websocket_route("/u/me")
    async def me(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("me")

    app.add_websocket_route("/u/{name}", echo_params)
    async with TestClient(app) as client, client.websocket_connect("/u/me") as ws:
        assert await ws.receive_text() == "me"


async def test_trailing_slashes_are_distinct() -> None:
    app = Yaat()
    app.add_websocket_route("/ws", echo_params)
    async with TestClient(app) as client:
        with pytest.raises(WebSocketDenied, match="403"):
            async with client.websocket_connect("/ws/"):
                pass


def test_route_segments_strip_root_path_and_use_raw_path() -> None:
    scope = {"path": "/api/a/b c", "root_path": "/api", "raw_path": b"/api/a/b%20c"}
    assert route_segments(scope) == ["a", "b c"]
    assert route_segments({"path": "/a/b", "root_path": "/api"}) == ["a", "b"]
    assert route_segments({"path": "/"}) == []


# -- mounts ---------------------------------------------------------------------------


async def test_mounts_nest_and_extend_root_path() -> None:
    inner = Router()

    @inner.websocket_route("/leaf/{n}")
    async def leaf(websocket: WebSocket, n: int) -> None:
        await websocket.accept()
        await websocket.send_json(
            [websocket.scope["root_path"], websocket.path_params, str(websocket.url)]
        )

    middle = Router()
    middle.mount("/inner", inner)
    app = Yaat()
    app.mount("outer/{section}", middle)
    assert await receive_params(app, "/outer/s1/inner/leaf/4") == [
        "/outer/s1/inner",
        {"section": "s1", "n": 4},
        "ws://testserver/outer/s1/inner/leaf/4",
    ]


async def test_a_websocket_mount_serves_every_route_as_a_websocket_and_http_gets_404() -> None:
    router = Router()

    @router.route("/a")
    async def a(websocket: Any) -> None:
        assert isinstance(websocket, WebSocket)
        await websocket.accept()
        await websocket.send_text("a")

    @router.websocket_route("/b")
    async def b(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("b")

    app = Yaat()
    app.mount("/ws", router, websocket=True)
    async with TestClient(app) as client:
        for name in "ab":
            async with client.websocket_connect(f"/ws/{name}") as ws:
                assert await ws.receive_text() == name
        assert (await client.get("/ws/a")).status_code == 404
        assert (await client.get("/ws/b")).status_code == 404


async def test_a_plain_mount_keeps_http_routes_http() -> None:
    router = Router()

    @router.route("/page")
    async def page(request: Request) -> TextResponse:
        return TextResponse(f"page under {request.scope['root_path']}")

    app = Yaat()
    app.mount("/sub", router)
    async with TestClient(app) as client:
        response = await client.get("/sub/page")
        assert (response.status_code, response.text) == (200, "page under /sub")
        with pytest.raises(WebSocketDenied, match="403"):
            async with client.websocket_connect("/sub/page"):
                pass


async def test_a_route_beats_a_mount_and_routes_are_found_after_mounting() -> None:
    router = Router()
    app = Yaat()
    app.mount("/m", router)

    @app.websocket_route("/m/own")
    async def own(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("app")

    @router.websocket_route("/later")
    async def later(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("router")

    async with TestClient(app) as client:
        async with client.websocket_connect("/m/own") as ws:
            assert await ws.receive_text() == "app"
        async with client.websocket_connect("/m/later") as ws:
            assert await ws.receive_text() == "router"


async def test_any_asgi_app_can_be_mounted() -> None:
    async def raw(scope: Any, receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": f"{scope['root_path']} {scope['path']}"})
        await send({"type": "websocket.close"})

    app = Yaat()
    app.mount("/raw", raw)
    async with TestClient(app) as client, client.websocket_connect("/raw/x") as ws:
        assert await ws.receive_text() == "/raw /raw/x"


def test_mount_checks_its_arguments() -> None:
    router = Router()
    with pytest.raises(TypeError, match="router must be a Router or an ASGI app"):
        router.mount("/x", "nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cannot be mounted inside itself"):
        router.mount("/x", router)
    router.mount("x", Router())
    with pytest.raises(ValueError, match="prefix '/x' is already mounted"):
        router.mount("/x", Router())
    assert router.routes[0][:2] == ("mount", "/x")


# -- lookup cost ----------------------------------------------------------------------


def test_lookup_visits_only_the_path_not_every_route() -> None:
    router = Router()
    for i in range(1000):
        router.add_websocket_route(f"/room{i}/{{x}}", echo_params)
    match = router.match("websocket", "GET", ["room999", "x"])
    assert match is not None
    assert match.endpoint is not None
    assert match.endpoint.path == "/room999/{x}"
    # One static child per route at the root, each holding one parameter child.
    assert len(router._root.static) == 1000
    assert all(len(node.params) == 1 for node in router._root.static.values())


# -- empty segments and WebSocket settings --------------------------------------------------


async def test_an_empty_segment_never_matches_a_parameter() -> None:
    app = Yaat()

    @app.websocket_route("/ws/{room}")
    async def room(websocket: WebSocket, room: str) -> None:
        await websocket.accept()
        await websocket.send_text(room)

    async with TestClient(app) as client:
        for path in ("/ws/", "/ws//"):
            with pytest.raises(WebSocketDenied, match="403"):
                async with client.websocket_connect(path):
                    pass
        async with client.websocket_connect("/ws/lobby") as ws:
            assert await ws.receive_text() == "lobby"


def size_app() -> Yaat:
    app = Yaat(max_message_size=1_000)

    @app.websocket_route("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        async for text in websocket.iter_text():
            await websocket.send_text(f"{len(text)} characters")

    @app.websocket_route("/big", max_message_size=10_000)
    async def big(websocket: WebSocket) -> None:
        await websocket.accept()
        async for data in websocket.iter_bytes():
            await websocket.send_text(f"{len(data)} bytes")

    return app


async def test_a_message_over_the_limit_closes_with_1009_before_it_is_parsed() -> None:
    async with TestClient(size_app()) as client:
        async with client.websocket_connect("/ws") as ws:
            await ws.send_text("é" * 500)  # 1,000 bytes: at the limit
            assert await ws.receive_text() == "500 characters"
            await ws.send_text("é" * 501)  # 1,002 bytes
            assert await ws.receive_close() == (
                1009,
                "message too big (1002 bytes; the limit is 1000)",
            )
        async with client.websocket_connect("/big") as ws:  # the route's own limit
            await ws.send_bytes(b"x" * 10_000)
            assert await ws.receive_text() == "10000 bytes"
            await ws.send_bytes(b"x" * 10_001)
            assert (await ws.receive_close()).code == 1009


def test_the_largest_limit_is_what_yaat_run_gives_the_server() -> None:
    assert Yaat().largest_message_size() == 2**20  # no routes: the default
    assert Yaat(max_message_size=10).largest_message_size() == 10
    assert size_app().largest_message_size() == 10_000
    app, inner = Yaat(max_message_size=100), Router(max_message_size=5_000)

    @inner.websocket_route("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.close()

    app.mount("/inner", inner)
    assert app.largest_message_size() == 5_000
    app.mount("/raw", size_app(), websocket=False)  # mounted as a router: its own limits
    assert app.largest_message_size() == 10_000

    async def asgi(scope: object, receive: object, send: object) -> None: ...

    app.mount("/asgi", asgi)  # an ASGI app's limit is unknown: the app's default counts
    assert app.largest_message_size() == 10_000


def test_bad_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="max_message_size is a number of bytes >= 1, got 0"):
        Yaat(max_message_size=0)
    with pytest.raises(ValueError, match="got '1MB'"):
        Router().add_websocket_route("/ws", size_app, max_message_size="1MB")  # type: ignore[arg-type]
