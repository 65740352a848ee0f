"""yaat.datastructures: URL, headers, query parameters, cookies."""

from __future__ import annotations

import pytest

from yaat.datastructures import URL, Headers, ImmutableMultiDict, QueryParams, parse_cookies


def test_url_is_a_string_with_parts() -> None:
    url = URL("wss://user:pw@example.com:8443/a/b?x=1#frag")
    assert url == "wss://user:pw@example.com:8443/a/b?x=1#frag"
    assert isinstance(url, str)
    assert (url.scheme, url.netloc, url.hostname, url.port) == (
        "wss",
        "user:pw@example.com:8443",
        "example.com",
        8443,
    )
    assert (url.path, url.query, url.fragment, url.username, url.password) == (
        "/a/b",
        "x=1",
        "frag",
        "user",
        "pw",
    )
    assert url.is_secure
    assert url.copy_with(scheme="ws", netloc="h") == "ws://h/a/b?x=1#frag"
    assert repr(URL("ws://h/")) == "URL('ws://h/')"
    assert URL("ws://h/").replace("h", "g") == "ws://g/"  # still a str


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ({"type": "websocket", "path": "/a b", "headers": [(b"host", b"h:1")]}, "ws://h:1/a%20b"),
        ({"type": "http", "scheme": "https", "server": ("s", 443), "path": "/"}, "https://s/"),
        (
            {
                "type": "http",
                "scheme": "http",
                "server": ("s", 81),
                "path": "/",
                "query_string": b"q=1",
            },
            "http://s:81/?q=1",
        ),
        ({"type": "websocket", "path": "/x", "root_path": "/api"}, "ws:///api/x"),
        (
            {"type": "websocket", "path": "/api/x", "root_path": "/api", "server": ("s", 80)},
            "ws://s/api/x",
        ),
    ],
)
def test_url_from_scope(scope: dict[str, object], expected: str) -> None:
    assert URL.from_scope(scope) == expected


def test_headers_are_case_insensitive_and_multi_valued() -> None:
    headers = Headers([(b"X-A", b"1"), (b"x-a", b"2"), (b"b", b"3")])
    assert headers["x-a"] == "1"
    assert headers.getlist("X-A") == ["1", "2"]
    assert "X-B" not in headers
    assert "B" in headers
    assert 3 not in headers
    assert list(headers) == ["x-a", "b"]
    assert len(headers) == 2
    assert headers == Headers([(b"b", b"3"), (b"x-a", b"1"), (b"x-a", b"2")])
    assert headers != {"x-a": "1"}
    with pytest.raises(KeyError, match="missing"):
        headers["missing"]
    assert Headers.from_mapping({"Content-Type": "text/plain"}).raw == [
        (b"content-type", b"text/plain")
    ]
    assert Headers.from_mapping([("A", "1"), ("a", "2")]).getlist("a") == ["1", "2"]
    assert repr(Headers([(b"a", b"1")])) == "Headers([(b'a', b'1')])"


def test_query_params_keep_every_value() -> None:
    params = QueryParams(b"a=1&a=2&b=&c=%20x")
    assert params["a"] == "2"
    assert params.getlist("a") == ["1", "2"]
    assert params.getlist("z") == []
    assert params["b"] == ""
    assert params["c"] == " x"
    assert params.multi_items() == [("a", "1"), ("a", "2"), ("b", ""), ("c", " x")]
    assert str(QueryParams([("a", "1"), ("a", "2")])) == "a=1&a=2"
    assert QueryParams({"a": "1"}) == QueryParams("a=1")
    assert QueryParams("a=1") != {"a": "1"}
    assert len(params) == 3
    assert repr(ImmutableMultiDict([("a", "1")])) == "ImmutableMultiDict([('a', '1')])"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("a=1; b=2", {"a": "1", "b": "2"}),
        ('a="x y"', {"a": "x y"}),
        ('a=1; b"=2; c=3', {"a": "1", 'b"': "2", "c": "3"}),
        ("a=é", {"a": "é"}),
        ("; ;=x; novalue; a=1", {"a": "1"}),
        ("", {}),
    ],
)
def test_cookies_parse_leniently(header: str, expected: dict[str, str]) -> None:
    assert parse_cookies(header) == expected


def test_header_names_fold_only_ascii_case() -> None:
    headers = Headers([(b"\xc0", b"1"), (b"X", b"2")])
    assert headers.getlist("\xc0") == ["1"]
    assert headers.getlist("\xe0") == []
    assert "€" not in headers
    assert headers.getlist("€") == []
    with pytest.raises(KeyError, match="€"):
        headers["€"]
