"""Will it behave the same on another server?  One play, run against several servers.

>>> async def play(client):  # doctest: +SKIP
...     async with client.websocket_connect("/ws") as ws:
...         await ws.send_text("hi")
...         return [await ws.receive_text(), await ws.receive_close()]
>>> report = await compare(app, play, servers=["uvicorn", "daphne"])  # doctest: +SKIP
>>> print(report)  # doctest: +SKIP
uvicorn: ['hi', Close(code=1008, reason='policy')]
daphne: ['hi', Close(code=1011, reason='')]   <- differs from uvicorn

*play* gets a started ``TestClient`` per server (its profile in memory, or the real
server with ``live=True``) and returns what it saw; an exception it raises is what it
saw too.  The pytest side of the same question is ``@pytest.mark.yaat_servers(...)``
or ``--yaat-servers``, with a report of the tests whose outcome differs.

A test that runs on one server is checked too: :func:`divergences` reads a session's
transcript and names every message of the app that the servers do not all handle
alike, with what each does (derived from their profiles, ``yaat_testing.profiles``),
and the servers whose live outcome there was not deterministic
(``ServerProfile.nondeterministic``).  The pytest plugin reports them for every test
that uses the harness: passing on uvicorn does not make the app portable.

>>> from yaat_testing.transcript import Transcript, APP_TO_CLIENT
>>> transcript = Transcript()
>>> transcript.record(APP_TO_CLIENT, {"type": "websocket.accept"})
>>> transcript.record(APP_TO_CLIENT, {"type": "websocket.close", "code": 1008})
>>> print(divergences(transcript)[0])
websocket.close code=1008: the client sees 1008 on uvicorn, uvicorn-wsproto, hypercorn, granian; send() raises ServerRefused on daphne
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from yaat.protocol import Side, WebSocketState, next_state
from yaat.types import ASGIApp
from yaat_testing.client import TestClient
from yaat_testing.profiles import (
    PROFILES,
    CloseFix,
    Consequence,
    ServerProfile,
    client_reads_close,
    situation,
)
from yaat_testing.rules import Facts, check_send, unencodable_at
from yaat_testing.transcript import APP_TO_CLIENT, CLIENT_TO_APP, Transcript, describe

Play = Callable[[TestClient], Awaitable[Any]]


@dataclass(frozen=True)
class Seen:
    """What a play saw on one server: what it returned, or what it raised."""

    server: str
    result: Any = None
    error: BaseException | None = None

    def shown(self) -> str:
        """In a few words."""
        if self.error is not None:
            return f"raised {type(self.error).__name__}: {self.error}".splitlines()[0]
        return repr(self.result)

    def same_as(self, other: Seen) -> bool:
        """Whether both saw the same: an equal result, or an error of the same type."""
        if self.error is not None or other.error is not None:
            return type(self.error) is type(other.error) and (
                str(self.error).splitlines()[:1] == str(other.error).splitlines()[:1]
            )
        return bool(self.result == other.result)


@dataclass(frozen=True)
class Report:
    """What the play saw on each server, the first one being the reference."""

    seen: tuple[Seen, ...]

    @property
    def same(self) -> bool:
        """Whether every server showed what the first one did."""
        return all(s.same_as(self.seen[0]) for s in self.seen[1:])

    @property
    def differing(self) -> list[str]:
        """The servers that showed something else than the first one."""
        return [s.server for s in self.seen[1:] if not s.same_as(self.seen[0])]

    def __str__(self) -> str:
        first = self.seen[0]
        lines = []
        for seen in self.seen:
            mark = (
                "" if seen is first or seen.same_as(first) else f"   <- differs from {first.server}"
            )
            lines.append(f"{seen.server}: {seen.shown()}{mark}")
        return "\n".join(lines)


async def compare(
    app: ASGIApp,
    play: Play,
    servers: Sequence[str] = tuple(PROFILES),
    *,
    live: bool = False,
    **client_options: Any,
) -> Report:
    """Run *play* against *app* on each of *servers*, and report what each showed.

    ``client_options`` go to every ``TestClient`` (``strict``, ``timeout``, ...);
    ``raise_app_exceptions`` is ``False`` unless given, so that what a client sees is
    compared, not the app's own exceptions.
    """
    unknown = sorted(set(servers) - set(PROFILES))
    if unknown or not servers:
        raise ValueError(
            f"compare(servers=...): unknown {unknown or list(servers)}; the servers are: "
            f"{', '.join(sorted(PROFILES))}"
        )
    client_options.setdefault("raise_app_exceptions", False)
    seen = []
    for server in servers:
        try:
            async with TestClient(app, live=live, server=server, **client_options) as client:
                result = await play(client)
        except Exception as error:  # what this server showed
            seen.append(Seen(server, error=error))
        else:
            seen.append(Seen(server, result=result))
    return Report(tuple(seen))


# -- what each server does with the app's messages ----------------------------------------

_CONNECTED = WebSocketState.CONNECTED
_SEND, _CLOSE = "websocket.send", "websocket.close"
#: What a consequence does to the app's send(), in the report's words.
_SAID = {
    Consequence.RAISE: "send() raises",
    Consequence.DROP: "send() raises and the connection drops (1006)",
    Consequence.IGNORE: "ignored",
}
_REFUSED = {
    CloseFix.RAISE: "send() raises ServerRefused",
    CloseFix.QUEUE_THEN_RAISE: "send() raises after the app's disconnect is queued",
    CloseFix.QUEUE_THEN_RAISE_CLOSED: (
        "send() raises after the app's disconnect is queued, and nothing more goes out"
    ),
    CloseFix.RAISE_CLOSED: "send() raises, and nothing more goes out but a close",
}


@dataclass(frozen=True)
class Context:
    """Where the app is when it sends a message, as its transcript shows."""

    state: WebSocketState = WebSocketState.CONNECTING
    app_closed: bool = False
    client_closed: bool = False


def outcome_on(profile: ServerProfile, context: Context, message: Mapping[str, Any]) -> str:
    """What *profile*'s server does with *message* from the app in *context*, in words
    (strict mode off: what a server does, not what a rule says).

    >>> from yaat_testing.profiles import PROFILES
    >>> close = {"type": "websocket.close", "code": 4000, "reason": "bye"}
    >>> outcome_on(PROFILES["daphne"], Context(WebSocketState.CONNECTED), close)
    'the client sees 4000 without the reason'
    """
    kind = message.get("type") if isinstance(message, Mapping) else None
    if context.client_closed and context.state is _CONNECTED and kind in (_SEND, _CLOSE):
        if kind == _SEND and profile.sends_until_disconnect_read:
            return "sent, until the app has received the disconnect"
        if kind == _CLOSE and profile.answers_close_when_read:
            return "sent: the answer to the client's close"
        consequence = (
            profile.close_after_client_close if kind == _CLOSE else profile.send_after_client_close
        )
        return _SAID.get(consequence, "sent")
    # A transcript does not say which subprotocols the client offered: count the one
    # chosen as offered (strict mode reports it otherwise).
    subprotocol = message.get("subprotocol")
    offered = frozenset([subprotocol]) if isinstance(subprotocol, str) else frozenset()
    for violation in check_send(Facts(context.state, offered, True), message):
        rule = violation.rule
        if rule in ("close-code", "close-reason"):
            continue  # what the close fixes below say
        consequence = profile.consequences[rule]
        if rule == "message-after-close" and kind == _CLOSE:
            if profile.refuses_code_before_state(
                message.get("code", 1000), message.get("reason") or ""
            ):
                return _REFUSED[CloseFix.RAISE]
            if profile.close_after_close:
                consequence = profile.close_after_close
        if rule == "message-after-close" and profile.drops_empty(message):
            return "not sent: it is empty"  # dropped before the state is checked
        if consequence is not Consequence.ALLOW:
            return _SAID[consequence]
        lenient = profile.lenient.get(rule)
        if lenient is not None:
            made = lenient(dict(message))
            if made is None:
                return "ignored"
            if made != message:
                return f"sent as {describe(made)}"
    if kind == _CLOSE and context.state is _CONNECTED:
        fix, code, reason = profile.close_fix(
            message.get("code", 1000), message.get("reason") or ""
        )
        if fix is not CloseFix.SEND:
            return _REFUSED[fix]
        code, reason = client_reads_close(code, reason)
        asked = message.get("reason") or ""
        if code == 1006:
            return "the client fails the connection on the frame (1006)"
        if reason and reason != asked:
            return f"the client sees {code} and the reason cut to {len(reason.encode())} bytes"
        if asked and not reason:
            return f"the client sees {code} without the reason"
        return f"the client sees {code}"
    if kind == _SEND and not (message.get("text") or message.get("bytes")):
        return "sent" if profile.sends_empty_messages else "not sent: it is empty"
    limit = profile.app_max_message_size
    if kind == _SEND and limit is not None and _size(message) > limit:
        return f"send() raises: over its {limit}-byte limit"
    if kind == "websocket.accept" and message.get("headers"):
        return "sent" if profile.sends_accept_headers else "sent without its headers"
    if kind == "websocket.http.response.start":
        return "sent" if profile.sends_denial else "not sent: the client gets 403"
    if kind == "websocket.http.response.body" and message.get("more_body"):
        return "sent" if profile.streams_denial_body else "send() raises: one part only"
    return "sent"


_OPEN = Context(_CONNECTED)


def _size(message: Mapping[str, Any]) -> int:
    data = message.get("bytes") if message.get("bytes") is not None else message.get("text")
    if isinstance(data, str):
        return len(data.encode("utf-8", "surrogatepass"))
    return len(data) if isinstance(data, (bytes, bytearray)) else 0


_SMALLEST_LIMIT = min(profile.max_message_size for profile in PROFILES.values())


def _note_size(
    found: dict[str, Divergence], profiles: list[ServerProfile], message: Mapping[str, Any]
) -> None:
    """A client's message over some server's size limit: what each server does."""
    data = message.get("bytes") if message.get("bytes") is not None else message.get("text")
    if not isinstance(data, (str, bytes)) or len(data) <= _SMALLEST_LIMIT:
        return  # (a character is at least one UTF-8 byte)
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    grouped: dict[str, list[str]] = {}
    for profile in profiles:
        said = "delivered"
        if size > profile.max_message_size:
            close = profile.too_big[0]
            said = f"over its {profile.max_message_size}-byte limit: " + (
                f"closed with {close[0]}" if close else "never closed"
            )
        grouped.setdefault(said, []).append(profile.name)
    action = f"a client message of {size} bytes"
    if len(grouped) > 1 and action not in found:
        found[action] = Divergence(action, tuple((o, tuple(s)) for o, s in grouped.items()))


_SMALLEST_APP_LIMIT = min(profile.app_max_message_size or 2**63 for profile in PROFILES.values())


def _fits(message: Mapping[str, Any]) -> bool:
    """Whether a message is under every server's limit (a character is at most 4 bytes)."""
    data = message.get("bytes") if message.get("bytes") is not None else message.get("text")
    return len(data or "") * 4 <= _SMALLEST_APP_LIMIT or _size(message) <= _SMALLEST_APP_LIMIT


def is_plain_data(message: Mapping[str, Any]) -> bool:
    """A non-empty ``websocket.send`` of one str UTF-8 can encode or of bytes: what
    every server sends as it is."""
    text, data = message.get("text"), message.get("bytes")
    if type(text) is str and data is None:
        return bool(text) and (text.isascii() or unencodable_at(text) is None)
    return type(data) is bytes and text is None and bool(data)


@dataclass(frozen=True)
class Divergence:
    """An app's message the servers do not all handle alike, or not each the same way
    every time: which servers do what."""

    #: The message, described.
    action: str
    #: Each outcome, in words, and the servers that have it.
    outcomes: tuple[tuple[str, tuple[str, ...]], ...]
    #: The servers whose live outcome here varied from run to run (the corpus's flaky
    #: cells): what they do is not deterministic.
    nondeterministic: tuple[str, ...] = ()

    @property
    def servers(self) -> tuple[str, ...]:
        """Every server named, the first outcome's first."""
        return tuple(server for _, servers in self.outcomes for server in servers)

    def __str__(self) -> str:
        said = "; ".join(f"{outcome} on {', '.join(servers)}" for outcome, servers in self.outcomes)
        if self.nondeterministic:
            said += (
                f"; not deterministic on {', '.join(self.nondeterministic)} "
                "(its live outcome varied from run to run)"
            )
        return f"{self.action}: {said}"


def divergences(
    transcript: Transcript, servers: Iterable[str] = tuple(PROFILES)
) -> list[Divergence]:
    """Every message of the app in *transcript* that *servers* do not all handle alike
    (or one of them not deterministically), in order, each once."""
    profiles = [PROFILES[name] for name in servers]
    found: dict[str, Divergence] = {}
    context = Context()
    for entry in transcript.entries:
        message = entry.message
        if entry.direction == CLIENT_TO_APP:
            if isinstance(message, Mapping) and message.get("type") == "websocket.disconnect":
                context = Context(context.state, context.app_closed, client_closed=True)
            elif isinstance(message, Mapping) and message.get("type") == "websocket.receive":
                _note_size(found, profiles, message)
            continue
        if entry.direction != APP_TO_CLIENT or not isinstance(message, Mapping):
            continue
        kind = message.get("type")
        if kind == _SEND and context == _OPEN and is_plain_data(message) and _fits(message):
            continue  # the busiest case: every server sends it
        grouped: dict[str, list[str]] = {}
        for profile in profiles:
            grouped.setdefault(outcome_on(profile, context, message), []).append(profile.name)
        where = situation(str(kind), context.app_closed, context.client_closed)
        varied = tuple(p.name for p in profiles if where in p.nondeterministic)
        action = describe(message) + where[len(str(kind)) :]  # and " after the ... close"
        if (len(grouped) > 1 or varied) and action not in found:
            found[action] = Divergence(
                action, tuple((o, tuple(s)) for o, s in grouped.items()), varied
            )
        target = next_state(Side.APPLICATION, context.state, message)
        if target is not None:
            closed = context.app_closed or (kind == _CLOSE and context.state is _CONNECTED)
            context = Context(target, closed, context.client_closed)
    return list(found.values())
