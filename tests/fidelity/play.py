"""Play a generated scenario (``tests/fidelity/generator.py``): live, or in memory.

>>> summary_of_message({"type": "websocket.disconnect", "code": 1000})
'D 1000 -'

The app is one raw ASGI app for every scenario of a run: the path names the scenario
(``/c/<index>``), so one server serves a whole run.  The app writes what each of its
``receive()`` and ``send()`` calls returned or raised into the scenario's log; the
client's side records the handshake, the messages and the close.  Both sides bound
every wait, so that a scenario always ends.  The outcome of a cell::

    {"handshake": ["accepted", subprotocol] | ["denied", status, body] | ["failed"]
                  | ["no-answer"],
     "messages": ["T hi", "B 4096b:…", …],
     "close": [code, reason] | None (never closed),
     "app": [["m2", "ok"], ["m3", "D 1000 ''"], …, ["end", "returned"]]}
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tests.fidelity.clock import run_on_virtual_clock
from tests.fidelity.generator import Scenario, Step
from yaat.types import Message, Receive, Scope, Send

#: How long the app's receive() waits before it notes "waited" and goes on.
APP_WAIT = 0.5
#: How long a send() may take before the app notes "waited" (a client that stops reading).
SEND_WAIT = 1.0
#: How long the client waits for a message it reads, and for anything more at the end.
CLIENT_WAIT = 1.0
#: How long the client's closing handshake may take (websockets' close_timeout).
CLOSE_TIMEOUT = 2.0
#: How long the app may run on once the client is done.
APP_END_WAIT = 3.0
#: The websockets client's max_queue: past it, the client stops reading the socket.
MAX_QUEUE = 16
#: How long the handshake may take (daphne drops an unanswered one after 5 s).
OPEN_TIMEOUT = 6.0

#: A str UTF-8 cannot encode: a high surrogate with no low one after it.
LONE_SURROGATE = "\ud800"
_TEXT = "0123456789abcdefghijklmnopqrstuvwxyz"
_UNICODE = "é✓🙂ж"
_BYTES = bytes(range(256))


def text_of(kind: str, size: int) -> str:
    """A text of *size* characters: ASCII, or (``uni``) of 2, 3 and 4 UTF-8 bytes."""
    alphabet = _UNICODE if kind == "uni" else _TEXT
    return (alphabet * (size // len(alphabet) + 1))[:size]


def bytes_of(size: int) -> bytes:
    return (_BYTES * (size // 256 + 1))[:size]


def payload(kind: str, size: int) -> dict[str, Any]:
    """The keys of a ``websocket.send`` (or a client's message) of *kind* and *size*."""
    if kind in ("text", "uni"):
        return {"text": text_of(kind, size)}
    if kind == "bytes":
        return {"bytes": bytes_of(size)}
    if kind == "none":
        return {}
    if kind == "both":
        return {"text": text_of("text", size), "bytes": bytes_of(size)}
    if kind == "surrogate":
        return {"text": text_of("text", size - 1) + LONE_SURROGATE}
    if kind == "text-as-bytes":
        return {"text": bytes_of(size)}
    assert kind == "bytes-as-text", kind
    return {"bytes": text_of("text", size)}


def reason_of(reason: Any) -> Any:
    """A close reason from the script: ``{"bytes": ...}`` is bytes, ``{"surrogate": ...}``
    a str with a lone surrogate at its end."""
    if isinstance(reason, dict):
        if "surrogate" in reason:
            return reason["surrogate"] + LONE_SURROGATE
        return reason["bytes"].encode()
    return reason


def summary_of_data(data: str | bytes) -> str:
    """A message's payload in a few characters: short ones as they are, long ones digested."""
    if isinstance(data, str):
        if len(data) <= 16:
            return f"T {data}"
        digest = hashlib.sha256(data.encode(errors="surrogatepass")).hexdigest()[:8]
        return f"T {len(data)}c:{digest}"
    if len(data) <= 16:
        return f"B {data.hex()}"
    return f"B {len(data)}b:{hashlib.sha256(data).hexdigest()[:8]}"


def summary_of_reason(reason: object) -> str:
    """A close reason: short ones as their repr, long ones by length and digest."""
    if isinstance(reason, str) and len(reason) > 16:
        return f"{len(reason)}c:{hashlib.sha256(reason.encode()).hexdigest()[:8]}"
    return repr(reason)


def summary_of_message(message: Any) -> str:
    """What a receive() returned, in a few characters."""
    if not isinstance(message, dict):
        return f"not a dict: {type(message).__name__}"
    kind = message.get("type")
    if kind == "websocket.connect":
        return "connect"
    if kind == "websocket.disconnect":
        reason = summary_of_reason(message["reason"]) if "reason" in message else "-"
        return f"D {message.get('code', '-')} {reason}"
    if kind == "websocket.receive":
        text, data = message.get("text"), message.get("bytes")
        shown = summary_of_data(text if text is not None else data or b"")
        if "text" in message and "bytes" in message:
            shown += " +both"
        return shown
    return f"? {kind}"


def shown_reason(reason: str) -> str:
    """A close reason the client saw: as it is up to 16 characters, then digested."""
    return reason if len(reason) <= 16 else summary_of_reason(reason)


def summary_of_error(error: BaseException) -> str:
    return "raised OSError" if isinstance(error, OSError) else "raised"


# -- the app --------------------------------------------------------------------------------


@dataclass
class AppRun:
    """What one scenario's app did, written from whichever thread runs it (daphne's)."""

    log: list[list[Any]] = field(default_factory=list)
    done: threading.Event = field(default_factory=threading.Event)


class ScenarioApp:
    """One raw ASGI app for many scenarios: ``/c/<index>`` plays ``scenarios[index]``."""

    def __init__(self, scenarios: Mapping[int, Scenario]) -> None:
        self.scenarios = scenarios
        self.runs: dict[int, AppRun] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "websocket":
            return
        index = int(scope["path"].rsplit("/", 1)[1])
        run = self.runs.setdefault(index, AppRun())
        script = Script(self.scenarios[index].app, scope, receive, send, run.log)
        how = "returned"
        try:
            await script.play("m")
        except asyncio.CancelledError:
            how = "cancelled"
            raise
        except Exception:
            how = "raised"
            raise
        finally:
            run.log.append(["end", how])
            run.done.set()


class Script:
    """The app's steps, played by one task (``m``) and the task it spawns (``s``)."""

    def __init__(
        self, steps: list[Step], scope: Scope, receive: Receive, send: Send, log: list[list[Any]]
    ) -> None:
        self.steps = steps
        self.scope = scope
        self.receive = receive
        self.send = send
        self.log = log
        self.spawned: asyncio.Task[None] | None = None

    async def play(self, who: str, steps: list[Step] | None = None) -> None:
        for index, step in enumerate(self.steps if steps is None else steps):
            where = f"{who}{index}"
            kind = step[0]
            if kind == "sleep":
                await asyncio.sleep(step[1] / 1000)
            elif kind == "raise":
                raise RuntimeError("the scenario raises")
            elif kind == "spawn":
                self.spawned = asyncio.ensure_future(self.play("s", step[1]))
            elif kind == "join":
                if self.spawned is not None:
                    await asyncio.wait({self.spawned}, timeout=APP_END_WAIT)
            elif kind == "recv":
                self.log.append([where, await self._call(self.receive(), APP_WAIT, received=True)])
            elif kind == "burst":
                results = [
                    await self._call(
                        self.send(self._message(["send", "bytes", step[2]])), SEND_WAIT
                    )
                    for _ in range(step[1])
                ]
                self.log.append([where, _runs(results)])
            elif kind == "deny":
                status, parts, ends = step[1], step[2], step[3]
                results = [
                    await self._call(
                        self.send(
                            {
                                "type": "websocket.http.response.start",
                                "status": status,
                                "headers": [],
                            }
                        ),
                        SEND_WAIT,
                    )
                ]
                for number, size in enumerate(parts):
                    more = number < len(parts) - 1 or not ends
                    body = {
                        "type": "websocket.http.response.body",
                        "body": bytes_of(size),
                        "more_body": more,
                    }
                    results.append(await self._call(self.send(body), SEND_WAIT))
                self.log.append([where, _runs(results)])
            else:
                self.log.append(
                    [where, await self._call(self.send(self._message(step)), SEND_WAIT)]
                )

    def _message(self, step: Step) -> Message:
        kind = step[0]
        if kind == "accept":
            message: Message = {"type": "websocket.accept"}
            if step[1] is not None:
                message["subprotocol"] = step[1]
            return message
        if kind == "send":
            return {"type": "websocket.send", **payload(step[1], step[2])}
        assert kind == "close", step
        message = {"type": "websocket.close"}
        if step[1] != "-":
            message["code"] = step[1]
        if step[2] is not None:
            message["reason"] = reason_of(step[2])
        return message

    async def _call(self, call: Any, within: float, received: bool = False) -> str:
        task = asyncio.ensure_future(call)
        try:
            done, _ = await asyncio.wait({task}, timeout=within)
        except asyncio.CancelledError:
            task.cancel()
            self.log.append(["cancelled", "in a call"])
            raise
        if not done:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
            return "waited"
        error = task.exception()
        if error is not None:
            return summary_of_error(error)
        return summary_of_message(task.result()) if received else "ok"


def _runs(results: list[str]) -> str:
    """``["ok", "ok", "waited"]`` as ``"ok*2, waited"``."""
    shown: list[str] = []
    count = 0
    for index, result in enumerate(results):
        count += 1
        if index + 1 == len(results) or results[index + 1] != result:
            shown.append(result if count == 1 else f"{result}*{count}")
            count = 0
    return ", ".join(shown)


# -- the client -----------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the client saw, and what the app did."""

    handshake: list[Any]
    messages: list[str] = field(default_factory=list)
    close: list[Any] | None = None
    app: list[list[Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {
            "handshake": self.handshake,
            "messages": self.messages,
            "close": self.close,
            "app": self.app,
        }


class ClientSide:
    """What a client driver does; live and in memory each implement it."""

    async def send(self, kind: str, size: int) -> None:
        raise NotImplementedError

    async def recv(self, timeout: float) -> str | list[Any] | None:
        """A message's summary, ``[code, reason]`` once closed, or ``None``: nothing came."""
        raise NotImplementedError

    async def close(self, code: int, reason: str) -> list[Any]:
        raise NotImplementedError

    async def drop(self) -> None:
        raise NotImplementedError


async def play_client(scenario: Scenario, client: ClientSide, outcome: Outcome) -> None:
    """The client's steps, then reading to the end."""
    for step in scenario.client:
        kind = step[0]
        if kind == "sleep":
            await asyncio.sleep(step[1] / 1000)
        elif kind == "send":
            await client.send(step[1], step[2])
        elif kind == "recv":
            seen = await client.recv(CLIENT_WAIT)
            if isinstance(seen, list):
                outcome.close = seen
                return
            if seen is not None:
                outcome.messages.append(seen)
        elif kind == "close":
            outcome.close = await client.close(step[1], step[2])
            await _read_rest(client, outcome)
            return
        else:
            assert kind == "drop", step
            await client.drop()
            outcome.close = [1006, ""]
            return
    await _read_rest(client, outcome, to_the_end=True)


async def _read_rest(client: ClientSide, outcome: Outcome, to_the_end: bool = False) -> None:
    """Read what is left: until the close, or (after the client's close) what was queued."""
    while True:
        seen = await client.recv(CLIENT_WAIT)
        if seen is None:
            if to_the_end:
                outcome.close = None  # nothing came: never closed; the client leaves
            return
        if isinstance(seen, list):
            if to_the_end:
                outcome.close = seen
            return
        outcome.messages.append(seen)


async def wait_for_app(run: AppRun, within: float) -> None:
    """Wait (bounded) for the app's end, which daphne's thread may set: polled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not run.done.is_set() and loop.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.01)


def app_log(run: AppRun | None) -> list[list[Any]]:
    if run is None:
        return [["end", "never called"]]
    log = list(run.log)
    if not run.done.is_set():
        log.append(["end", "running"])
    return log


# -- live -----------------------------------------------------------------------------------


class LiveClient(ClientSide):
    def __init__(self, websocket: Any) -> None:
        self.ws = websocket

    async def send(self, kind: str, size: int) -> None:
        from websockets.exceptions import ConnectionClosed

        data = payload(kind, size)
        with contextlib.suppress(ConnectionClosed):
            await self.ws.send(data.get("text", data.get("bytes")))

    async def recv(self, timeout: float) -> str | list[Any] | None:
        from websockets.exceptions import ConnectionClosed

        try:
            data = await asyncio.wait_for(self.ws.recv(), timeout)
        except ConnectionClosed as closed:
            received = closed.rcvd
            return (
                [1006, ""]
                if received is None
                else [int(received.code), shown_reason(received.reason)]
            )
        except TimeoutError:
            return None
        return summary_of_data(data)

    async def close(self, code: int, reason: str) -> list[Any]:
        await self.ws.close(code, reason)
        received = self.ws.protocol.close_rcvd
        return (
            [1006, ""] if received is None else [int(received.code), shown_reason(received.reason)]
        )

    async def drop(self) -> None:
        self.ws.transport.abort()
        await asyncio.sleep(0.1)


async def play_live(scenario: Scenario, index: int, app: ScenarioApp, port: int) -> Outcome:
    """Play scenario *index* against the server on *port*, serving *app*."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus
    from websockets.typing import Subprotocol

    app.runs.pop(index, None)
    try:
        async with connect(
            f"ws://testserver/c/{index}",
            host="127.0.0.1",
            port=port,
            subprotocols=[Subprotocol(s) for s in scenario.subprotocols] or None,
            max_size=None,
            compression=None,
            open_timeout=OPEN_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
            ping_interval=None,
        ) as ws:
            outcome = Outcome(["accepted", ws.subprotocol])
            await play_client(scenario, LiveClient(ws), outcome)
    except InvalidStatus as rejected:
        body = bytes(rejected.response.body or b"")
        outcome = Outcome(["denied", rejected.response.status_code, summary_of_data(body)])
    except InvalidHandshake:
        outcome = Outcome(["failed"])
    except TimeoutError:
        outcome = Outcome(["no-answer"])
    except OSError as error:
        outcome = Outcome(["failed", type(error).__name__])
    run = app.runs.get(index)
    if run is not None:
        await wait_for_app(run, APP_END_WAIT)
    outcome.app = app_log(run)
    return outcome


# -- in memory ------------------------------------------------------------------------------


class MemoryClient(ClientSide):
    """The client side in memory: a session, made to read as the ``websockets`` client
    reads (its ``max_queue``, and its wait for the answer to its close)."""

    def __init__(self, session: Any) -> None:
        self.ws = session
        #: Messages still readable once reading stopped (``None``: no limit).
        self.readable: int | None = None
        #: Whether it stopped reading the socket, its queue full (it reads in the background).
        self.paused = False
        session._connection._to_client.add_waiter(_PutWatcher(self), None)

    def _on_put(self) -> None:
        """Past max_queue unread messages, the websockets client stops reading the socket
        (and so reads no close frame either), until its queue drains."""
        if not self.paused and self._unread() > MAX_QUEUE:
            self.paused = True
            self.ws._connection.pause_reading(None)

    def _unread(self) -> int:
        """Messages the app sent that the client has not read yet: the websockets client
        reads them into its queue whether or not the test asks."""
        items = self.ws._connection._to_client.items
        return sum(1 for item in items if type(item) is dict and item["type"] == "websocket.send")

    async def send(self, kind: str, size: int) -> None:
        from yaat.websockets import WebSocketDisconnect

        data = payload(kind, size)
        with contextlib.suppress(WebSocketDisconnect):
            if "text" in data:
                await self.ws.send_text(data["text"])
            else:
                await self.ws.send_bytes(data["bytes"])

    async def recv(self, timeout: float) -> str | list[Any] | None:
        from yaat_testing import WebSocketTimeout

        if self.readable is not None:
            if self.readable == 0:  # what it read before it stopped is all it gets
                return [1006, ""]
            self.readable -= 1
        try:
            # Bounded by wait_for, as LiveClient.recv is: on Python 3.11 it runs the call
            # in a task of its own, which costs the client loop turns before it sees a
            # message, live and in memory alike (the session's own bound is a backstop).
            message = await asyncio.wait_for(self.ws.receive(timeout=timeout * 2), timeout)
        except (WebSocketTimeout, TimeoutError):
            return None
        if self.paused and self._unread() <= MAX_QUEUE // 4:  # its low-water mark
            self.paused = False
            self.ws._connection.resume_reading()
        if message["type"] == "websocket.close":
            return [message["code"], shown_reason(message["reason"] or "")]
        return summary_of_data(
            message["text"] if message.get("text") is not None else message["bytes"]
        )

    async def close(self, code: int, reason: str) -> list[Any]:
        from yaat.websockets import WebSocketDisconnect

        # With more than max_queue messages unread, the websockets client has stopped
        # reading the socket: its close goes out, the answer behind the unread messages
        # never comes in, and after close_timeout it aborts the connection (1006).
        paused = self._unread() > MAX_QUEUE
        disconnect = {"type": "websocket.disconnect", "code": code, "reason": reason}
        try:
            await self.ws.send(disconnect)
        except WebSocketDisconnect as closed:  # the app's close came first
            if not paused:  # (unread, behind the messages, if paused)
                return [closed.code, shown_reason(closed.reason or "")]
            # it has not read that close: its own goes out all the same
            self.ws._connection.send_nowait(disconnect)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLOSE_TIMEOUT
        if paused:
            return await self._abort_at(deadline)
        # The session ends on its own close at once; the websockets client waits (up to
        # close_timeout) for the server's answer: the server reads the close turns later
        # (an app's close in between is the answer), and granian answers only once the
        # app has read it.  Wait for it on the connection, as that client does.
        from yaat.protocol import WebSocketState

        connection = self.ws._connection
        while loop.time() < deadline and (  # noqa: ASYNC110
            connection.closed is None or connection.client_state is not WebSocketState.DISCONNECTED
        ):
            await asyncio.sleep(0.001)
        if self._unread() > MAX_QUEUE:
            # The messages that came in meanwhile filled its queue: it stopped reading
            # before the answer, which it never gets, and aborts after close_timeout.
            return await self._abort_at(deadline)
        code, reason = connection.closed or (1006, "")
        return [code, shown_reason(reason)]

    async def _abort_at(self, deadline: float) -> list[Any]:
        """Stopped reading before the answer to its close: it reads what it had read
        already, and aborts the connection at close_timeout's *deadline* (1006)."""
        self.readable = MAX_QUEUE + 1
        await asyncio.sleep(max(0.0, deadline - asyncio.get_running_loop().time()))
        return [1006, ""]

    async def drop(self) -> None:
        from yaat_testing import WebSocketTimeout

        with contextlib.suppress(WebSocketTimeout):
            await self.ws.drop(timeout=APP_END_WAIT)


class _PutWatcher:
    """Told of every put on the client's channel (a waiter that stays): what the
    ``websockets`` client's background reader sees arrive."""

    def __init__(self, client: MemoryClient) -> None:
        self.client = client

    def done(self) -> bool:
        return False

    def set_result(self, result: None, /) -> None:
        self.client.ws._connection._to_client.add_waiter(self, None)
        self.client._on_put()


async def play_memory(scenario: Scenario, server: str, index: int = 0) -> Outcome:
    """Play *scenario* in memory, as *server*'s profile says: not strict, not raising."""
    from yaat.websockets import WebSocketDisconnect
    from yaat_testing import ASGIProtocolError, TestClient, WebSocketDenied, WebSocketTimeout

    app = ScenarioApp({index: scenario})
    async with TestClient(
        app,
        server=server,
        strict=False,
        raise_app_exceptions=False,
        live=False,
        timeout=APP_END_WAIT,
    ) as client:
        connect = client.websocket_connect(
            f"/c/{index}", subprotocols=scenario.subprotocols, timeout=OPEN_TIMEOUT
        )
        try:
            ws = await connect.__aenter__()
        except WebSocketDenied as denied:
            outcome = Outcome(["denied", denied.status_code, summary_of_data(denied.body)])
        except (ASGIProtocolError, WebSocketDisconnect):
            outcome = Outcome(["failed"])
        except WebSocketTimeout:
            outcome = Outcome(["no-answer"])
        else:
            outcome = Outcome(["accepted", ws.subprotocol])
            await play_client(scenario, MemoryClient(ws), outcome)
            with contextlib.suppress(Exception):
                await connect.__aexit__(None, None, None)
        run = app.runs.get(index)
        if run is not None:
            await wait_for_app(run, APP_END_WAIT)
        outcome.app = app_log(run)
    return outcome


def play_memory_many(server: str, scenarios: Mapping[int, Scenario]) -> dict[int, dict[str, Any]]:
    """The in-memory outcome of every scenario, each played alone on a virtual clock
    (``tests/fidelity/clock.py``): its bounded waits end when nothing else can run, so
    the outcome is the same on every run, and a thousand scenarios take seconds."""
    return {
        index: run_on_virtual_clock(play_memory(scenario, server, index)).as_json()
        for index, scenario in scenarios.items()
    }
