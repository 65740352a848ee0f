"""The fidelity scenarios: raw ASGI (and yaat) apps, what a client does, what it sees.

Each scenario is run twice, in memory and on uvicorn with the ``websockets`` client,
and the client-visible outcomes must be equal.  ``scripts/compare_clients.py`` runs
them through other test clients too.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from yaat import Yaat
from yaat.types import ASGIApp, Message, Receive, Scope, Send
from yaat.websockets import WebSocket

Seen = list[Any]
# ("text", str) | ("bytes", bytes) | ("receive",) | ("close", code, reason) | ("drop",) |
# ("shutdown",)
Action = tuple[Any, ...]


@dataclass
class Scenario:
    """One row of the table."""

    name: str
    make_app: Callable[[Seen], ASGIApp]
    path: str = "/"
    actions: list[Action] = field(default_factory=list)
    subprotocols: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    #: How long the app may go on after the client's end, before the server stops.
    settle: float = 0.3
    #: For a scenario a signal ends: the app a server process imports instead of
    #: *make_app* (``tests/fidelity/process_apps.py``), live.
    process_app: str | None = None


@dataclass
class Outcome:
    """What a client saw, plus what the app saw of the client."""

    kind: str  # "accepted", "denied" or "handshake-failed"
    status: int | None = None
    body: bytes = b""
    subprotocol: str | None = None
    accept_header: str | None = None
    messages: list[tuple[str, Any]] = field(default_factory=list)
    close: tuple[int, str] | None = None
    app_saw: list[Any] = field(default_factory=list)
    #: How long it took, for the record: outcomes are compared without it.
    seconds: float = field(default=0.0, compare=False)


def raw(body: Callable[[Scope, Receive, Send, Seen], Any]) -> Callable[[Seen], ASGIApp]:
    """A raw ASGI app that answers lifespan and runs *body* for WebSockets."""

    def make(seen: Seen) -> ASGIApp:
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "websocket":
                await body(scope, receive, send, seen)
            elif scope["type"] == "lifespan":
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})

        return app

    return make


ACCEPT: Message = {"type": "websocket.accept"}


async def drain(receive: Receive) -> None:
    """Wait for the client's disconnect, so that the app ends after the client."""
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def _echo(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    message = await receive()
    await send({"type": "websocket.send", "text": message.get("text")})
    await send({"type": "websocket.close", "code": 1000})


async def _close_reason(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    await send({"type": "websocket.close", "code": 4001, "reason": "bye now"})
    seen.append(await receive())  # the disconnect, once the client answered


async def _close_before_accept(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send({"type": "websocket.close"})


async def _denial(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(
        {
            "type": "websocket.http.response.start",
            "status": 401,
            "headers": [(b"content-type", b"text/plain")],
        }
    )
    await send({"type": "websocket.http.response.body", "body": b"log in ", "more_body": True})
    await send({"type": "websocket.http.response.body", "body": b"first"})


async def _raise_before(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    raise RuntimeError("before accept")


async def _return_before(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()


async def _raise_after(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    await send({"type": "websocket.send", "text": "about to fail"})
    raise RuntimeError("after accept")


async def _return_after(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    await send({"type": "websocket.send", "text": "leaving"})


async def _send_after_close(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    await send({"type": "websocket.close", "code": 1000})
    try:
        await send({"type": "websocket.send", "text": "too late"})
    except Exception as exc:  # what each server raises differs; that it raises does not
        seen.append("send after close raised")
        raise RuntimeError("send after close") from exc


async def _text_and_bytes(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    await send({"type": "websocket.send", "text": "text", "bytes": b"bytes"})
    await send({"type": "websocket.close"})


def _close_code(code: int, reason: str = "") -> Callable[[Scope, Receive, Send, Seen], Any]:
    async def body(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
        await receive()
        await send(ACCEPT)
        await send({"type": "websocket.send", "text": "before"})
        await send({"type": "websocket.close", "code": code, "reason": reason})

    return body


async def _subprotocol(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    offered = scope["subprotocols"]
    await send({"type": "websocket.accept", "subprotocol": offered[-1] if offered else None})
    await send({"type": "websocket.send", "text": ",".join(offered)})
    await send({"type": "websocket.close"})


async def _unoffered(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send({"type": "websocket.accept", "subprotocol": "mqtt"})
    await drain(receive)


async def _request(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    headers = dict(scope["headers"])
    seen.append(
        {
            "path": scope["path"],
            "raw_path": scope.get("raw_path"),
            "query_string": scope["query_string"],
            "x-custom": headers.get(b"x-custom"),
            "host": headers.get(b"host"),
        }
    )
    await send({"type": "websocket.accept", "headers": [(b"x-a", b"accept-header")]})
    await send({"type": "websocket.close"})


async def _echo_all(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            seen.append((message.get("code"), message.get("reason")))
            return
        if message.get("text") == "done":
            await send({"type": "websocket.close"})
            return
        reply = {k: message[k] for k in ("text", "bytes") if message.get(k) is not None}
        await send({"type": "websocket.send", **reply})


async def _client_closes(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    message = await receive()
    seen.append((message["type"], message.get("code"), message.get("reason")))


def _after_client_close(message: Message) -> Callable[[Scope, Receive, Send, Seen], Any]:
    """An app that sends *message* right after the client's close reached it."""

    async def body(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
        await receive()
        await send(ACCEPT)
        seen.append((await receive())["type"])
        try:
            await send(message)
        except OSError:  # ASGI 2.4: the client is gone
            seen.append("raised OSError")
        else:
            seen.append("ignored")

    return body


async def _scope_fields(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    seen.append(
        {
            "spec_version": scope.get("asgi", {}).get("spec_version"),
            "state": "state" in scope,
            "server port": type((scope.get("server") or (None, None))[1]).__name__,
            "client port": type((scope.get("client") or (None, None))[1]).__name__,
            "extensions": sorted(scope.get("extensions") or {}),
            "http_version": scope.get("http_version"),
            "scheme": scope.get("scheme"),
        }
    )
    await receive()
    await send(ACCEPT)
    await send({"type": "websocket.close"})


async def _records_what_it_receives(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    while True:
        message = await receive()
        seen.append({k: v for k, v in message.items() if k != "type" or v != "websocket.receive"})
        if message["type"] == "websocket.disconnect":
            return


def _violation(*messages: Any, accept: bool = True) -> Callable[[Scope, Receive, Send, Seen], Any]:
    """An app that breaks a rule: it sends *messages*, noting whether each send raised,
    then closes if it still can, so that what the server did shows."""

    async def body(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
        await receive()
        if accept:
            await send(ACCEPT)
        for message in messages:
            try:
                await send(message)
            except Exception:
                seen.append("raised")
            else:
                seen.append("sent")
        with contextlib.suppress(Exception):
            await send({"type": "websocket.close"})
        with contextlib.suppress(Exception):
            await asyncio.wait_for(drain(receive), 1.0)

    return body


async def _receives_twice(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    seen.append((await receive())["type"])
    try:
        message = await asyncio.wait_for(receive(), 1.0)
    except TimeoutError:
        seen.append("waited")
    except Exception:
        seen.append("raised")
    else:
        seen.append(message["type"])


def _yaat_returns(seen: Seen) -> ASGIApp:
    app = Yaat()

    @app.websocket_route("/")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")

    return app


def _yaat_crashes(seen: Seen) -> ASGIApp:
    app = Yaat()

    @app.websocket_route("/")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")
        raise RuntimeError("handler crashed")

    return app


def _yaat_denies(seen: Seen) -> ASGIApp:
    app = Yaat()

    @app.websocket_route("/")
    async def handler(websocket: WebSocket) -> None:
        await websocket.deny(401, "log in first")

    return app


def _yaat_raises_before_accept(seen: Seen) -> ASGIApp:
    app = Yaat()

    @app.websocket_route("/")
    async def handler(websocket: WebSocket) -> None:
        raise RuntimeError("before accept")

    return app


def _yaat_closes_with_policy(seen: Seen) -> ASGIApp:
    app = Yaat()

    @app.websocket_route("/")
    async def handler(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.close(1008, "bad message")

    return app


def _yaat_echo_with_reason(seen: Seen) -> ASGIApp:
    app = Yaat()

    @app.websocket_route("/rooms/{room}")
    async def handler(websocket: WebSocket, room: str) -> None:
        await websocket.accept(subprotocol="chat" if "chat" in websocket.subprotocols else None)
        async for text in websocket.iter_text():
            await websocket.send_json({"room": room, "text": text})
            await websocket.close(4000, "one message only")
            return

    return app


async def _slow_close(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    await receive()
    await send(ACCEPT)
    await asyncio.sleep(0.01)
    await send({"type": "websocket.close", "code": 1001})


async def _close_from_another_task(scope: Scope, receive: Receive, send: Send, seen: Seen) -> None:
    """A close sent by a second task while the handler waits in receive(): a room's way."""
    await receive()
    await send(ACCEPT)

    async def closer() -> None:
        await asyncio.sleep(0.05)
        await send({"type": "websocket.close", "code": 4013, "reason": "bye"})
        seen.append("close returned")

    task = asyncio.ensure_future(closer())
    try:
        seen.append(await receive())
        await task
    finally:
        task.cancel()


MEBIBYTE = bytes(range(256)) * 4096

SCENARIOS = [
    Scenario("happy path", raw(_echo), actions=[("text", "hello")]),
    Scenario("close with a reason", raw(_close_reason)),
    Scenario("close from another task while receive waits", raw(_close_from_another_task)),
    Scenario("close before accept", raw(_close_before_accept)),
    Scenario("denial response with a body", raw(_denial)),
    Scenario("raise before accept", raw(_raise_before)),
    Scenario("return before accept", raw(_return_before)),
    Scenario("raise after accept", raw(_raise_after)),
    Scenario("return after accept", raw(_return_after)),
    Scenario("send after close", raw(_send_after_close)),
    Scenario("text and bytes in one message", raw(_text_and_bytes)),
    Scenario("reserved close code 1006", raw(_close_code(1006))),
    Scenario("reserved close code 1005", raw(_close_code(1005))),
    Scenario("close code out of range", raw(_close_code(999))),
    Scenario("oversized close reason", raw(_close_code(1000, "x" * 124))),
    Scenario("subprotocol negotiation", raw(_subprotocol), subprotocols=["json", "chat"]),
    Scenario("subprotocol never offered", raw(_unoffered), subprotocols=["chat"]),
    Scenario("no subprotocol offered", raw(_unoffered)),
    Scenario(
        "query string and percent-encoded path",
        raw(_request),
        path="/a%20b/%C3%A9%2Fx?q=1&q=%20two&empty=",
    ),
    Scenario(
        "custom request headers and accept headers", raw(_request), headers={"x-custom": "value"}
    ),
    Scenario(
        "unicode text", raw(_echo_all), actions=[("text", "héllo wörld ✓ 🙂"), ("text", "done")]
    ),
    Scenario(
        "empty text and empty bytes",
        raw(_echo_all),
        actions=[("text", ""), ("bytes", b""), ("text", "done")],
    ),
    Scenario(
        "1 MiB binary message", raw(_echo_all), actions=[("bytes", MEBIBYTE), ("text", "done")]
    ),
    Scenario(
        "client close with code and reason",
        raw(_client_closes),
        actions=[("close", 4002, "client leaves")],
    ),
    Scenario(
        "client close seen by an echo app",
        raw(_echo_all),
        actions=[("text", "x"), ("receive",), ("close", 1001, "going")],
    ),
    Scenario("app closes after a pause", raw(_slow_close)),
    Scenario("app closes with 1008", raw(_close_code(1008, "policy"))),
    Scenario("app closes with 3000", raw(_close_code(3000, "custom"))),
    Scenario("scope fields", raw(_scope_fields)),
    Scenario(
        "2 MiB binary message", raw(_echo_all), actions=[("bytes", MEBIBYTE * 2), ("text", "done")]
    ),
    Scenario(
        "17 MiB binary message",
        raw(_echo_all),
        actions=[("bytes", MEBIBYTE * 17), ("text", "done")],
    ),
    Scenario(
        "empty messages reach the app",
        raw(_records_what_it_receives),
        actions=[("text", ""), ("bytes", b""), ("close", 1000, "")],
    ),
    Scenario("the client drops the connection", raw(_client_closes), actions=[("drop",)]),
    Scenario("neither text nor bytes", raw(_violation({"type": "websocket.send"}))),
    Scenario("text that is bytes", raw(_violation({"type": "websocket.send", "text": b"x"}))),
    Scenario("bytes that are text", raw(_violation({"type": "websocket.send", "bytes": "x"}))),
    Scenario("a second accept", raw(_violation(ACCEPT))),
    Scenario(
        "send before accept",
        raw(_violation({"type": "websocket.send", "text": "x"}, ACCEPT, accept=False)),
    ),
    Scenario("an unknown message type", raw(_violation({"type": "websocket.sendd", "text": "x"}))),
    Scenario(
        "a denial after accept",
        raw(_violation({"type": "websocket.http.response.start", "status": 403})),
    ),
    Scenario(
        "an uppercase accept header",
        raw(_violation({"type": "websocket.accept", "headers": [(b"X-A", b"1")]}, accept=False)),
    ),
    Scenario(
        "a denial body before its start",
        raw(_violation({"type": "websocket.http.response.body", "body": b"x"}, accept=False)),
    ),
    Scenario(
        "a denial with status 99",
        raw(_violation({"type": "websocket.http.response.start", "status": 99}, accept=False)),
    ),
    Scenario(
        "a denial body that is text",
        raw(
            _violation(
                {"type": "websocket.http.response.start", "status": 403},
                {"type": "websocket.http.response.body", "body": "text"},
                accept=False,
            )
        ),
    ),
    Scenario(
        "a denial that stops half way",
        raw(
            _violation(
                {"type": "websocket.http.response.start", "status": 403},
                {"type": "websocket.http.response.body", "body": b"x", "more_body": True},
                accept=False,
            )
        ),
    ),
    Scenario(
        "headers that are text",
        raw(_violation({"type": "websocket.accept", "headers": [("x-a", "1")]}, accept=False)),
    ),
    Scenario(
        "a subprotocol that is not a str",
        raw(_violation({"type": "websocket.accept", "subprotocol": 1}, accept=False)),
    ),
    Scenario("a message that is not a dict", raw(_violation(["websocket.close"]))),
    Scenario(
        "a receive after the disconnect",
        raw(_receives_twice),
        actions=[("close", 1000, "")],
        settle=1.5,
    ),
    Scenario(
        "a subprotocol set as a header",
        raw(
            _violation(
                {"type": "websocket.accept", "headers": [(b"sec-websocket-protocol", b"chat")]},
                accept=False,
            )
        ),
        subprotocols=["chat"],
    ),
    Scenario(
        "the server shuts down",
        raw(_client_closes),
        actions=[("shutdown",)],
        process_app="tests.fidelity.process_apps:client_closes",
    ),
    Scenario(
        "close after the client's close",
        raw(_after_client_close({"type": "websocket.close", "code": 1000})),
        actions=[("close", 1000, "")],
    ),
    Scenario(
        "send after the client's close",
        raw(_after_client_close({"type": "websocket.send", "text": "late"})),
        actions=[("close", 1000, "")],
    ),
    Scenario("yaat handler returns without closing", _yaat_returns),
    Scenario("yaat handler crashes after accept", _yaat_crashes),
    Scenario(
        "yaat path parameter, subprotocol and close reason",
        _yaat_echo_with_reason,
        path="/rooms/r%201",
        actions=[("text", "hi")],
        subprotocols=["chat"],
    ),
    Scenario("yaat unknown path", _yaat_returns, path="/nowhere"),
    Scenario("yaat handler denies with a body", _yaat_denies),
    Scenario("yaat handler raises before accept", _yaat_raises_before_accept),
    Scenario("yaat handler closes with 1008 and a reason", _yaat_closes_with_policy),
]
