"""The strict ASGI rules: each one named, each one check, none with side effects.

>>> facts = Facts(WebSocketState.CONNECTING)
>>> [v.rule for v in check_send(facts, {"type": "websocket.send", "text": "hi"})]
['send-before-accept']
>>> check_send(facts, {"type": "websocket.accept"})
[]

A check returns the violations it found, without acting on them.  What happens next is not decided
here: a connection raises in strict mode, and otherwise does what its server does
(``yaat_testing.profiles``).  The in-memory transport and live mode run the same
checks.  Which message may follow which comes from the protocol table in
``yaat.protocol``; every other rule is one function below.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple

from yaat.constants import close_code_problem, close_reason_problem, http_status_problem
from yaat.protocol import MESSAGE_TYPES, Side, WebSocketState, describe_allowed, next_state
from yaat_testing.exceptions import ASGIProtocolError

_APPLICATION = Side.APPLICATION
_CONNECTING = WebSocketState.CONNECTING
_CONNECTED = WebSocketState.CONNECTED
_RESPONSE = WebSocketState.RESPONSE
_DISCONNECTED = WebSocketState.DISCONNECTED

_ACCEPT = "websocket.accept"
_SEND = "websocket.send"
_CLOSE = "websocket.close"
_START = "websocket.http.response.start"
_BODY = "websocket.http.response.body"


@dataclass(frozen=True)
class Rule:
    """One strict rule: its name (as errors and ``ignore=`` spell it) and what it asks."""

    name: str
    summary: str


@dataclass(frozen=True)
class Violation:
    """A broken rule: which, what happened, where, and how to fix it."""

    rule: str
    problem: str
    where: str
    fix: str

    def error(self) -> ASGIProtocolError:
        """The exception that reports this violation."""
        return ASGIProtocolError(self.rule, self.problem, self.where, self.fix)


class Facts(NamedTuple):
    """What the checks need to know about a connection when the app sends a message.

    A named tuple: one is built for every message that is not a plain data frame.
    """

    #: The application's state before the message.
    state: WebSocketState
    #: The subprotocols the client offered.
    offered: frozenset[str] = frozenset()
    #: Whether the scope advertises the ``websocket.http.response`` extension.
    denial_extension: bool = True


Problem = tuple[str, str]  # (what happened, how to fix it)
Check = Callable[[Facts, Mapping[str, Any]], Problem | None]

_RULES: dict[str, Rule] = {}
_CHECKS: dict[str, list[tuple[str, Check]]] = {t: [] for t in MESSAGE_TYPES[_APPLICATION]}


def _rule(name: str, summary: str, *, on: tuple[str, ...] = ()) -> Callable[[Check], Check]:
    """Register a rule; with *on*, its check runs for app messages of those types."""

    def register(check: Check) -> Check:
        _RULES[name] = Rule(name, summary)
        for message_type in on:
            _CHECKS[message_type].append((name, check))
        return check

    return register


def _declare(name: str, summary: str) -> None:
    """Register a rule whose check is not per message (the transition table, receive, ...)."""
    _RULES[name] = Rule(name, summary)


def _where(state: WebSocketState) -> str:
    return f"application state {state.name}"


# -- which message may follow which: one lookup in the protocol table ----------------------

_declare("message-not-a-dict", "send() takes a dict")
_declare("unknown-message-type", "a message's 'type' is one the WebSocket spec defines")
_declare("send-before-accept", "no websocket.send before websocket.accept")
_declare("body-before-start", "no response body before websocket.http.response.start")
_declare("double-accept", "websocket.accept at most once")
_declare("denial-after-accept", "no denial response after websocket.accept")
_declare(
    "denial-incomplete",
    "a denial response ends with a websocket.http.response.body without more_body",
)
_declare("message-after-close", "nothing after websocket.close or a complete denial response")

#: The rule an illegal message breaks, by application state and message type; ``None``
#: stands for every other type.  Which messages are legal is the protocol table's say.
ILLEGAL: Mapping[WebSocketState, Mapping[str | None, tuple[str, str]]] = MappingProxyType(
    {
        _CONNECTING: {
            _SEND: ("send-before-accept", "before the handshake completed"),
            _BODY: ("body-before-start", "before websocket.http.response.start"),
        },
        _CONNECTED: {
            _ACCEPT: ("double-accept", "sent twice"),
            None: ("denial-after-accept", "after websocket.accept"),
        },
        _RESPONSE: {None: ("denial-incomplete", "in the middle of a denial response")},
        _DISCONNECTED: {None: ("message-after-close", "after the connection was closed")},
    }
)

#: The rules about which message may be sent at all, and when: a message that breaks one
#: of these is not looked at further.
STATE_RULES = frozenset(
    {"message-not-a-dict", "unknown-message-type"}
    | {rule for row in ILLEGAL.values() for rule, _ in row.values()}
)

#: How to fix an illegal message, by rule; ``{allowed}`` comes from the protocol table.
_TRANSITION_FIXES = {
    "send-before-accept": "send {allowed} first (await websocket.accept())",
    "body-before-start": "send {allowed} first: a denial starts with its status",
    "double-accept": "accept once; the connection is already open (allowed here: {allowed})",
    "denial-after-accept": (
        "deny with an HTTP response before accepting, or close() now (allowed here: {allowed})"
    ),
    "denial-incomplete": "finish the response with {allowed} (more_body=False)",
    "message-after-close": "send nothing after websocket.close or a complete denial response",
}


def _check_shape(facts: Facts, message: object) -> Violation | None:
    if type(message) is not dict and not isinstance(message, Mapping):
        return Violation(
            "message-not-a-dict",
            f"send() got {type(message).__name__}",
            _where(facts.state),
            "send a dict such as {'type': 'websocket.send', 'text': '...'}",
        )
    message_type = message.get("type")
    if message_type not in MESSAGE_TYPES[_APPLICATION]:
        return Violation(
            "unknown-message-type",
            f"send() got message type {message_type!r}",
            _where(facts.state),
            f"send one of {describe_allowed(_APPLICATION, facts.state)}",
        )
    return None


def _check_transition(facts: Facts, message: Mapping[str, Any]) -> Violation | None:
    if next_state(_APPLICATION, facts.state, message) is not None:
        return None
    message_type = message["type"]
    row = ILLEGAL[facts.state]
    rule, when = row.get(message_type) or row[None]
    fix = _TRANSITION_FIXES[rule].format(allowed=describe_allowed(_APPLICATION, facts.state))
    return Violation(rule, f"{message_type} {when}", _where(facts.state), fix)


# -- websocket.accept ---------------------------------------------------------------------


@_rule("accept-subprotocol-type", "websocket.accept's subprotocol is a str or None", on=(_ACCEPT,))
def _accept_subprotocol_type(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    subprotocol = message.get("subprotocol")
    if subprotocol is None or isinstance(subprotocol, str):
        return None
    return (
        f"websocket.accept subprotocol is {type(subprotocol).__name__}",
        "pass a str the client offered, or None",
    )


@_rule(
    "subprotocol-not-offered",
    "websocket.accept picks a subprotocol the client offered",
    on=(_ACCEPT,),
)
def _subprotocol_not_offered(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    subprotocol = message.get("subprotocol")
    if subprotocol is None or not isinstance(subprotocol, str) or subprotocol in facts.offered:
        return None
    return (
        f"websocket.accept chose subprotocol {subprotocol!r}; the client offered "
        f"{sorted(facts.offered)!r}",
        "pick one of scope['subprotocols'], or None",
    )


def header_pairs(headers: object) -> list[tuple[bytes, bytes]] | None:
    """*headers* as a list of ``(bytes, bytes)`` pairs, or ``None`` if they are not that.

    Headers left out (``None``) are no headers.
    """
    if headers is None:
        return []
    try:
        pairs = [(name, value) for name, value in headers]  # type: ignore[attr-defined]
    except (TypeError, ValueError):
        return None
    if all(isinstance(n, bytes) and isinstance(v, bytes) for n, v in pairs):
        return pairs
    return None


@_rule(
    "header-type",
    "headers are an iterable of [name, value] byte pairs",
    on=(_ACCEPT, _START),
)
def _header_type(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    headers = message.get("headers")
    if header_pairs(headers) is not None:
        return None
    return (
        f"{message['type']} headers must be an iterable of [name, value] byte pairs, "
        f"got {headers!r:.80}",
        "encode them, e.g. [(b'x-token', b'abc')]",
    )


@_rule(
    "accept-subprotocol-header",
    "websocket.accept sets the subprotocol with its key, not a header",
    on=(_ACCEPT,),
)
def _accept_subprotocol_header(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    for name, _ in header_pairs(message.get("headers")) or ():
        if name.lower() == b"sec-websocket-protocol":
            return (
                "websocket.accept headers include sec-websocket-protocol",
                "use the 'subprotocol' key instead",
            )
    return None


@_rule("header-name-case", "header names are lowercase", on=(_ACCEPT,))
def _header_name_case(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    for name, _ in header_pairs(message.get("headers")) or ():
        if name != name.lower():
            return (
                f"{message['type']} header name {name!r} is not lowercase",
                f"use {name.lower()!r}",
            )
    return None


# -- websocket.send -----------------------------------------------------------------------


@_rule("text-and-bytes", "websocket.send carries 'text' or 'bytes', not both", on=(_SEND,))
def _text_and_bytes(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    if message.get("text") is None or message.get("bytes") is None:
        return None
    return (
        "websocket.send has both 'text' and 'bytes'",
        "send one of them and leave the other out (or None)",
    )


@_rule("neither-text-nor-bytes", "websocket.send carries 'text' or 'bytes'", on=(_SEND,))
def _neither_text_nor_bytes(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    if message.get("text") is not None or message.get("bytes") is not None:
        return None
    return (
        "websocket.send has neither 'text' nor 'bytes'",
        "set 'text' to a str or 'bytes' to bytes",
    )


@_rule("send-text-type", "websocket.send's 'text' is a str", on=(_SEND,))
def _send_text_type(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    text = message.get("text")
    if text is None or isinstance(text, str) or message.get("bytes") is not None:
        return None
    return (
        f"websocket.send 'text' is {type(text).__name__}",
        "send a str as 'text', or bytes as 'bytes'",
    )


@_rule("send-bytes-type", "websocket.send's 'bytes' is bytes", on=(_SEND,))
def _send_bytes_type(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    data = message.get("bytes")
    if data is None or isinstance(data, (bytes, bytearray)):
        return None
    return (
        f"websocket.send 'bytes' is {type(data).__name__}",
        "send bytes as 'bytes', or a str as 'text'",
    )


def unencodable_at(text: str) -> int | None:
    """Where *text* has a character UTF-8 cannot encode (a lone surrogate), or ``None``.

    >>> unencodable_at("ok"), unencodable_at("ab\\ud800")
    (None, 2)
    """
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return error.start
    return None


@_rule(
    "send-text-encoding",
    "websocket.send's text is one UTF-8 can encode: no lone surrogate",
    on=(_SEND,),
)
def _send_text_encoding(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    text = message.get("text")
    if not isinstance(text, str) or message.get("bytes") is not None:
        return None
    at = unencodable_at(text)
    if at is None:
        return None
    return (
        f"websocket.send 'text' has {text[at]!r} at index {at}, a lone surrogate UTF-8 "
        "cannot encode",
        "send valid text: pair the surrogate, or replace it "
        "(text.encode('utf-8', 'replace').decode())",
    )


# -- websocket.close ----------------------------------------------------------------------


# Before accept a close sends HTTP 403 and no close frame: every server drops the code
# and reason, so only a close after accept is checked (WebSocketDenied keeps them).


@_rule(
    "close-code",
    "a close code sent after accept is one RFC 6455 §7.4 lets an endpoint send",
    on=(_CLOSE,),
)
def _close_code(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    if facts.state is _CONNECTING:
        return None
    problem = close_code_problem(message.get("code", 1000))
    if problem is None:
        return None
    return f"websocket.close: {problem}", "send a valid code and a short reason"


@_rule(
    "close-reason",
    "a close reason sent after accept is a str of at most 123 UTF-8 bytes",
    on=(_CLOSE,),
)
def _close_reason(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    if facts.state is _CONNECTING:
        return None
    reason = message.get("reason") or ""
    at = unencodable_at(reason) if isinstance(reason, str) else None
    problem = (
        close_reason_problem(reason)
        if at is None
        else f"close reason has {reason[at]!r} at index {at}, which UTF-8 cannot encode"
    )
    if problem is None:
        return None
    return f"websocket.close: {problem}", "send a valid code and a short reason"


# -- the denial response ------------------------------------------------------------------


@_rule(
    "denial-without-extension",
    "a denial response only where the scope advertises websocket.http.response",
    on=(_START,),
)
def _denial_without_extension(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    if facts.denial_extension:
        return None
    return (
        "websocket.http.response.start, but the scope does not advertise the "
        "'websocket.http.response' extension",
        "check scope['extensions'] first, or close() to deny with 403",
    )


@_rule("response-status", "a denial's status is an int from 100 to 599", on=(_START,))
def _response_status(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    problem = http_status_problem(message.get("status"))
    if problem is None:
        return None
    return f"websocket.http.response.start: {problem}", "send an int HTTP status from 100 to 599"


@_rule("response-body-type", "a denial's body is bytes", on=(_BODY,))
def _response_body_type(facts: Facts, message: Mapping[str, Any]) -> Problem | None:
    body = message.get("body", b"")
    if isinstance(body, (bytes, bytearray)):
        return None
    return f"websocket.http.response.body body is {type(body).__name__}", "send bytes"


# -- the entry points ---------------------------------------------------------------------


def check_send(facts: Facts, message: object) -> list[Violation]:
    """Every rule *message*, sent by the app in ``facts.state``, breaks, in order.

    A message that is not a dict, of an unknown type, or not allowed in this state
    breaks that one rule only: the other rules are about the message's fields.
    """
    shape = _check_shape(facts, message)
    if shape is not None:
        return [shape]
    assert isinstance(message, Mapping)
    transition = _check_transition(facts, message)
    if transition is not None:
        return [transition]
    found = []
    for rule, check in _CHECKS[message["type"]]:
        problem = check(facts, message)
        if problem is not None:
            found.append(Violation(rule, problem[0], _where(facts.state), problem[1]))
    return found


_declare("receive-after-disconnect", "no receive() after websocket.disconnect")


def check_receive(state: WebSocketState, saw_disconnect: bool) -> Violation | None:
    """The app calls ``receive()``: a violation once it has had ``websocket.disconnect``."""
    if not saw_disconnect:
        return None
    return Violation(
        "receive-after-disconnect",
        "the app called receive() after it had received websocket.disconnect",
        _where(state),
        "stop receiving once websocket.disconnect has arrived",
    )


_declare("app-return-value", "the application callable returns None")


def check_return(state: WebSocketState, value: object) -> Violation | None:
    """The app returned *value*: a violation unless it is ``None``."""
    if value is None:
        return None
    return Violation(
        "app-return-value",
        f"the app returned {value!r:.80}; an ASGI app returns None",
        _where(state),
        "return nothing from the application callable",
    )


def check_end(state: WebSocketState) -> Violation | None:
    """The app ended in *state*: a violation in the middle of a denial response."""
    if state is not _RESPONSE:
        return None
    return Violation(
        "denial-incomplete",
        "the app ended in the middle of its denial response",
        _where(state),
        "finish the response with websocket.http.response.body (more_body=False)",
    )


_declare("lifespan-message", "lifespan send() answers the phase it was asked")


def check_lifespan_send(phase: str, message: object) -> Violation | None:
    """The app sent *message* during lifespan *phase* (``"startup"`` or ``"shutdown"``)."""
    allowed = (f"lifespan.{phase}.complete", f"lifespan.{phase}.failed")
    message_type = message.get("type") if isinstance(message, Mapping) else None
    if message_type in allowed:
        return None
    return Violation(
        "lifespan-message",
        f"lifespan send() got {message_type!r}",
        f"lifespan {phase}",
        f"send {allowed[0]!r} or {allowed[1]!r}",
    )


#: Every rule, by name.
RULES: Mapping[str, Rule] = MappingProxyType(dict(sorted(_RULES.items())))


class Strict:
    """Which rules a connection enforces: all of them, less those in *ignore*.

    >>> Strict(ignore=["close-reason"]).enforces("close-reason")
    False

    ``TestClient(strict=True)`` is ``Strict()``, and ``strict=False`` ignores every rule.
    An ignored rule is not reported: the connection does what its server does instead.
    """

    __slots__ = ("ignore",)

    def __init__(self, ignore: Iterable[str] = ()) -> None:
        if isinstance(ignore, str):
            raise TypeError(f"ignore takes rule names, e.g. [{ignore!r}], not a str")
        names = frozenset(ignore)
        unknown = sorted(names - RULES.keys())
        if unknown:
            raise ValueError(
                f"unknown strict rule(s) {', '.join(map(repr, unknown))}; the rules are: "
                f"{', '.join(RULES)}"
            )
        #: The rules this strictness does not enforce.
        self.ignore = names

    @classmethod
    def of(cls, strict: bool | Strict) -> Strict:
        """The :class:`Strict` for a ``strict=`` argument: a bool or a ``Strict``."""
        if isinstance(strict, Strict):
            return strict
        if not isinstance(strict, bool):
            raise TypeError(f"strict takes True, False or Strict(ignore=[...]), got {strict!r}")
        return cls() if strict else cls(RULES)

    def enforces(self, rule: str) -> bool:
        """Whether a violation of *rule* is reported."""
        return rule not in self.ignore

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Strict) and other.ignore == self.ignore

    def __hash__(self) -> int:
        return hash(self.ignore)

    def __repr__(self) -> str:
        if not self.ignore:
            return "Strict()"
        return f"Strict(ignore={sorted(self.ignore)!r})"
