"""yaat_testing.scope: the URL a client asks for, and the scope a server builds from it."""

from __future__ import annotations

import pytest

from yaat_testing.scope import WebSocketRequest, build_scope, http_scheme, websocket_scheme


def test_the_scope_is_what_a_server_would_build() -> None:
    scope = build_scope(
        WebSocketRequest(
            "wss://example.com:8443/a%20b/é?x=1&y=%20", [(b"authorization", b" t\t")], ["chat"]
        ),
        root_path="/api",
        state={"db": 1},
        extensions={"websocket.http.response": {}},
    )
    assert scope["type"] == "websocket"
    assert scope["asgi"] == {"version": "3.0", "spec_version": "2.4"}
    assert scope["scheme"] == "wss"
    assert scope["path"] == "/api/a b/é"
    assert scope["raw_path"] == b"/api/a%20b/%C3%A9"
    assert scope["root_path"] == "/api"
    assert scope["query_string"] == b"x=1&y=%20"
    assert scope["server"] == ("example.com", 8443)
    assert scope["client"] == ("testclient", 50000)
    assert scope["subprotocols"] == ["chat"]
    assert scope["extensions"] == {"websocket.http.response": {}}
    assert scope["state"] == {"db": 1}
    headers = dict(scope["headers"])
    assert headers[b"host"] == b"example.com:8443"
    assert headers[b"sec-websocket-protocol"] == b"chat"
    assert headers[b"sec-websocket-version"] == b"13"
    assert headers[b"authorization"] == b"t"
    assert all(name == name.lower() for name, _ in scope["headers"])


def test_each_scope_gets_its_own_copy_of_state() -> None:
    state = {"n": 1}
    first = build_scope(WebSocketRequest("ws://t/"), state=state)
    first["state"]["n"] = 2
    assert build_scope(WebSocketRequest("ws://t/"), state=state)["state"] == {"n": 1}
    assert "state" not in build_scope(WebSocketRequest("ws://t/"))


def test_http_urls_map_to_ws_and_other_schemes_are_refused() -> None:
    scope = build_scope(WebSocketRequest("https://t/"))
    assert (scope["scheme"], scope["server"], scope["extensions"]) == ("wss", ("t", 443), {})
    assert [websocket_scheme(u) for u in ("http://t", "https://t", "ws://t", "wss://t")] == [
        "ws",
        "wss",
        "ws",
        "wss",
    ]
    assert [http_scheme(u) for u in ("http://t", "https://t", "ws://t", "wss://t")] == [
        "http",
        "https",
        "http",
        "https",
    ]
    with pytest.raises(
        ValueError, match="a WebSocket URL needs the ws, wss, http or https scheme, got 'ftp://t/'"
    ):
        build_scope(WebSocketRequest("ftp://t/"))


def test_what_servers_leave_out_or_spell_otherwise() -> None:
    daphne = build_scope(WebSocketRequest("ws://t/"), spec_version=None, http_fields=False)
    assert "spec_version" not in daphne["asgi"]
    assert "http_version" not in daphne
    assert "scheme" not in daphne
    granian = build_scope(WebSocketRequest("ws://t:8000/"), ports_as_str=True)
    assert granian["server"] == ("t", "8000")
    assert granian["client"] == ("testclient", "50000")
