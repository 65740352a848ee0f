"""Server profiles: what each real server does, as data the in-memory transport follows.

>>> PROFILES["hypercorn"].raise_after_accept
1011

Servers agree on the ASGI spec and disagree on most of what it leaves open: what a
client sees when an app fails, which close codes and reasons reach it, what the app is
told when the client leaves, what a send after that does, and what a shutdown does.
Each profile below was recorded live, scenario by scenario, with the server's default
settings and the ``websockets`` client (``tests/fidelity/``, ``docs/servers.md``); the
in-memory transport reads it wherever a rule is not enforced or the spec leaves the
choice to the server.  ``tests/fidelity/test_fidelity.py`` fails when a live server no
longer does what its profile says.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from yaat.constants import MAX_CLOSE_REASON_BYTES, close_code_problem
from yaat.types import Message
from yaat_testing.rules import RULES


class Consequence(enum.Enum):
    """What a server does with a message that breaks a rule."""

    #: The app's ``send()`` raises; nothing is sent and the connection goes on.
    RAISE = "raise"
    #: The app's ``send()`` raises and the connection drops: the client sees 1006, or a
    #: failed handshake before accept.
    DROP = "drop"
    #: The app's ``send()`` returns and nothing happens.
    IGNORE = "ignore"
    #: The server sends what it makes of the message (``ServerProfile.lenient``).
    ALLOW = "allow"


class CloseKind(enum.Enum):
    """A ``websocket.close`` after accept that servers do not all send as asked.

    >>> close_kinds(1005, "x" * 124)
    [<CloseKind.LOCAL_CODE: 'code 1005, 1006 or 1015'>, <CloseKind.LONG_REASON: 'a reason over 123 UTF-8 bytes'>]
    """

    #: 1004: reserved, with no meaning.
    RESERVED_CODE = "code 1004"
    #: 1005, 1006 and 1015: for reading only (no status, abnormal closure, TLS).
    LOCAL_CODE = "code 1005, 1006 or 1015"
    #: An int outside 1000-1014 and 3000-4999.
    UNREGISTERED_CODE = "a code outside 1000-1014 and 3000-4999"
    #: 1001-1003 and 1007-1014: RFC 6455 lets an endpoint send them; autobahn does not.
    PREDEFINED_CODE = "a predefined code other than 1000"
    #: A code that is not an int (``"1000"``).
    CODE_NOT_INT = "a code that is not an int"
    #: A reason of more than 123 UTF-8 bytes: a close frame carries at most 125.
    LONG_REASON = "a reason over 123 UTF-8 bytes"
    #: A reason that is not a str (``b"why"``).
    REASON_NOT_STR = "a reason that is not a str"
    #: A str UTF-8 cannot encode: a lone surrogate (``"\\ud800"``).
    UNENCODABLE_REASON = "a reason UTF-8 cannot encode"


def close_kinds(code: object, reason: object) -> list[CloseKind]:
    """What is special about ``websocket.close`` with *code* and *reason*, code first."""
    kinds = []
    if type(code) is not int:
        kinds.append(CloseKind.CODE_NOT_INT)
    elif code == 1004:
        kinds.append(CloseKind.RESERVED_CODE)
    elif code in (1005, 1006, 1015):
        kinds.append(CloseKind.LOCAL_CODE)
    elif not (1000 <= code <= 1014 or 3000 <= code <= 4999):
        kinds.append(CloseKind.UNREGISTERED_CODE)
    elif 1000 < code < 3000:
        kinds.append(CloseKind.PREDEFINED_CODE)
    if not isinstance(reason, str):
        kinds.append(CloseKind.REASON_NOT_STR)
    else:
        try:
            size = len(reason.encode("utf-8"))
        except UnicodeEncodeError:
            kinds.append(CloseKind.UNENCODABLE_REASON)
        else:
            if size > MAX_CLOSE_REASON_BYTES:
                kinds.append(CloseKind.LONG_REASON)
    return kinds


class CloseFix(enum.Enum):
    """What a server does with a kind of close (:class:`CloseKind`) it does not send as
    asked; a kind a profile does not list goes out as asked (``SEND``), and the client
    judges the frame (``client_reads_close``)."""

    #: The frame goes out as asked.  The ``websockets`` client fails the connection on a
    #: code it may not receive or a frame over 125 bytes: it sees 1006, and answers with
    #: a close of its own (1002), which the server takes as the answer to its close.
    SEND = "send"
    #: The frame goes out with code 1000 instead (wsproto for 1005, 1006 and 1015;
    #: granian for a code that is not an int).
    CODE_1000 = "code 1000"
    #: The code goes out as ``int(code)`` (hypercorn); if that fails, as ``RAISE_CLOSED``.
    AS_INT = "as int"
    #: The frame goes out without the reason (granian, for a reason that is not a str).
    NO_REASON = "no reason"
    #: The reason is cut to the 123 bytes a close frame carries, at a character's end.
    TRUNCATE = "truncate"
    #: The app's ``send()`` raises; nothing is sent, and the app may close again (daphne).
    RAISE = "raise"
    #: The app's own disconnect is queued, then its ``send()`` raises; nothing is sent
    #: and the connection goes on as if nothing happened (uvicorn queues the disconnect,
    #: then websockets refuses to build the frame).
    QUEUE_THEN_RAISE = "queue, then raise"
    #: The same, but the server counts the close as sent, though nothing went out: what
    #: the app sends after it raises, and the client sees 1006 when the app ends
    #: (uvicorn with wsproto marks the close sent before wsproto fails).  It takes the
    #: client's close for the answer to it: the app is not told, and the client's close
    #: is never answered.
    QUEUE_THEN_RAISE_CLOSED = "queue, then raise, counted closed"
    #: The app's ``send()`` raises and the server counts itself closed, though nothing
    #: went out: a send after it raises, a close after it is sent (hypercorn sets its
    #: state, then wsproto fails).
    RAISE_CLOSED = "raise, counted closed"


#: The refusals, the first that applies wins: what a server checks first comes first.
_REFUSALS = (
    CloseFix.QUEUE_THEN_RAISE,
    CloseFix.QUEUE_THEN_RAISE_CLOSED,
    CloseFix.RAISE_CLOSED,
    CloseFix.RAISE,
)


def client_reads_close(code: int, reason: object) -> tuple[int, str]:
    """What the ``websockets`` client reports for a close frame with *code* and *reason*:
    the frame, or 1006 when it fails the connection on a code it may not receive or a
    frame over 125 bytes.

    >>> client_reads_close(4000, "bye"), client_reads_close(1005, ""), client_reads_close(1000, "x" * 124)
    ((4000, 'bye'), (1006, ''), (1006, ''))
    """
    if not isinstance(reason, str) or close_code_problem(code) is not None:
        return 1006, ""
    try:
        size = len(reason.encode("utf-8"))
    except UnicodeEncodeError:  # (a frame a server made of it is not UTF-8)
        return 1006, ""
    return (1006, "") if size > MAX_CLOSE_REASON_BYTES else (code, reason)


def situation(kind: str, app_closed: bool, client_closed: bool) -> str:
    """Where a message of the app falls, in the words of ``nondeterministic``.

    >>> situation("websocket.send", app_closed=True, client_closed=False)
    "websocket.send after the app's close"
    """
    if app_closed:
        return f"{kind} after the app's close"
    if client_closed:
        return f"{kind} after the client's close"
    return kind


#: What a lenient server sends for a message that breaks a rule: a ``websocket.send``
#: or ``websocket.accept`` of its own making, or ``None`` for nothing.
Lenient = Callable[[Message], Message | None]


def _bytes_win(message: Message) -> Message:
    return {"type": "websocket.send", "bytes": bytes(message["bytes"])}


def _the_other_kind(message: Message) -> Message:
    """``text`` that is bytes goes out as bytes, ``bytes`` that are a str as text."""
    if message.get("text") is not None:
        return {"type": "websocket.send", "bytes": bytes(message["text"])}
    return {"type": "websocket.send", "text": str(message["bytes"])}


def _empty_of_its_kind(message: Message) -> Message:
    """A payload of the wrong type goes out empty, as the kind its key names."""
    if message.get("text") is not None:
        return {"type": "websocket.send", "text": ""}
    return {"type": "websocket.send", "bytes": b""}


def _header_as_subprotocol(message: Message) -> Message:
    """A ``sec-websocket-protocol`` header is sent: the client reads it as the subprotocol."""
    for name, value in message.get("headers") or ():
        if bytes(name).lower() == b"sec-websocket-protocol":
            return {**message, "subprotocol": bytes(value).decode("latin-1")}
    return message


def _lowercased(message: Message) -> Message:
    headers = [(bytes(name).lower(), bytes(value)) for name, value in message["headers"]]
    return {**message, "headers": headers}


def _as_sent(message: Message) -> Message:
    return message


def _falsy_subprotocol_left_out(message: Message) -> Message:
    """uvicorn sends the ``sec-websocket-protocol`` header for a truthy subprotocol only:
    ``""`` is no subprotocol; any other goes out, and the client refuses it."""
    if message.get("subprotocol") == "":
        return _without_subprotocol(message)
    return message


def _without_subprotocol(message: Message) -> Message:
    return {key: value for key, value in message.items() if key != "subprotocol"}


def _str_headers_encoded(message: Message) -> Message:
    headers = [
        (
            name.encode("latin-1") if isinstance(name, str) else name,
            value.encode("latin-1") if isinstance(value, str) else value,
        )
        for name, value in message["headers"]
    ]
    return {**message, "headers": headers}


@dataclass(frozen=True)
class ServerProfile:
    """One server's behaviour, for the in-memory transport to reproduce."""

    #: The name ``TestClient(server=...)`` and ``--yaat-server`` take.
    name: str
    #: The server and the versions its behaviour was recorded with.
    title: str

    # -- the scope -------------------------------------------------------------------
    #: ``scope["asgi"]["spec_version"]``; ``None`` leaves it out.
    spec_version: str | None
    #: What ``scope["extensions"]`` advertises.
    extensions: tuple[str, ...]
    #: Whether the server runs the lifespan, and puts its ``state`` in each scope.
    lifespan: bool = True
    #: Whether ``scope["server"]`` and ``scope["client"]`` give ports as str.
    ports_as_str: bool = False
    #: Whether the scope has ``http_version`` and ``scheme``.
    http_fields: bool = True

    # -- the handshake ---------------------------------------------------------------
    #: The HTTP status a client gets when the app raises before accepting; ``None``:
    #: no answer, the handshake fails.
    raise_before_accept: int | None = 500
    #: The same when the app returns before accepting.
    return_before_accept: int | None = 500
    #: The HTTP status for a close before accept.
    close_before_accept: int = 403
    #: Whether the server sends a denial response; ``False``: it takes the messages,
    #: sends nothing, and answers as for an app that returns before accepting, even
    #: with the extension advertised.
    sends_denial: bool = True
    #: Whether a denial's body may come in parts (``more_body``); ``False``: a part with
    #: ``more_body`` raises in ``send()`` and is lost, and the start goes out with the
    #: last part (granian); an app that ends before it gets the answer of an app that
    #: returns before accepting.
    streams_denial_body: bool = True
    #: Whether the server holds a denial's start until its first body part: an app that
    #: ends after the start alone gets the answer of an app that returns before
    #: accepting (hypercorn; granian, whose body does not stream, too).
    holds_denial_start: bool = False
    #: The body of its HTTP 500.
    error_body: bytes = b"Internal Server Error"
    #: Whether the headers of ``websocket.accept`` reach the client.
    sends_accept_headers: bool = True

    # -- after accept ----------------------------------------------------------------
    #: The close code a client sees when the app raises after accepting; ``None``: the
    #: connection is never closed.
    raise_after_accept: int | None = 1006
    #: The same when the app returns without closing.
    return_after_accept: int | None = 1006
    #: What the server does with each kind of close it does not send as asked; a kind
    #: left out goes out as asked (``CloseFix.SEND``).
    close_fixes: Mapping[CloseKind, CloseFix] = field(default_factory=dict)
    #: Whether the close reason reaches the client.
    sends_close_reason: bool = True
    #: Whether an empty text or binary message reaches the client; daphne drops one
    #: before autobahn sees it, so after the app's close it returns where a send raises.
    sends_empty_messages: bool = True
    #: Whether the server answers the client's close only once the app has received it
    #: (granian): until then the app's close is the answer, and at the app's end the
    #: server closes as for an app that returns (``return_after_accept``).
    answers_close_when_read: bool = False
    #: Whether the app's messages still reach the client after the client's close, until
    #: the app has received the disconnect (the server has not read the close yet).
    sends_until_disconnect_read: bool = False

    # -- the client's side -----------------------------------------------------------
    #: The disconnect code the app gets: the client's, or always this one.
    disconnect_code: Literal["client"] | int = "client"
    #: Whether the app gets the client's close reason.
    disconnect_reason: bool = False
    #: The disconnect the app gets after its own close: its own code and reason, queued
    #: at once (``"own"``, uvicorn), the client's answer (``"echo"``: clients echo the
    #: app's code), or always this code.
    disconnect_code_after_close: Literal["own", "echo"] | int = "echo"
    #: The disconnect the app gets after its close before accept (a 403), and after the
    #: last part of its denial response; ``None``: none, its ``receive()`` waits.
    disconnect_after_refusal: tuple[int | None, int | None] = (1006, 1006)
    #: Whether each close the app sends after a refusal, which the server otherwise
    #: ignores, gives a receive() the first of those disconnects again, unless one is
    #: still queued (granian: a close with no socket notifies the accept event, a tokio
    #: ``Notify`` that holds one wake-up, for which a receive() before accept waits).
    close_after_refusal_disconnects: bool = False
    #: Loop turns from the server's end of a refused handshake (it closes the socket)
    #: until the app's calls find the connection gone (``after_lost``); ``None``: not
    #: before the app's next calls.
    refusal_lost_turns: int | None = None
    #: The disconnect the server queues once the connection is gone, after the one of
    #: the close (uvicorn: 1005); ``None``: none.
    lost_code: int | None = None
    #: The close code the server answers a client's close with: the client's own, or this.
    close_echo: Literal["client"] | int = "client"
    #: The disconnect code the app gets when the client drops without a close frame.
    drop_code: int = 1005
    #: What an app's ``websocket.send`` does once the client has closed.
    send_after_client_close: Consequence = Consequence.RAISE
    #: What an app's ``websocket.close`` does once the client has closed.
    close_after_client_close: Consequence = Consequence.IGNORE
    #: What a second ``websocket.close`` after the app's own does; ``None``: what the
    #: ``message-after-close`` rule's consequence says.  hypercorn and daphne ignore it.
    close_after_close: Consequence | None = None
    #: Whether the server checks a close's code before its state, so that a close with
    #: a code it refuses (``CloseFix.RAISE``) raises even after the app's own close,
    #: until the connection is gone (autobahn's ``sendClose``: daphne; after the
    #: client's close, daphne counts the connection gone once it has read it).
    checks_close_code_first: bool = False
    #: Whether the app hears the client's answer to its close only as the connection
    #: goes, three turns after its close (``after_lost``), and its sends are ignored from
    #: then on (daphne queues the disconnect in ``onClose``, as it marks the connection
    #: disconnected, and ``handle_reply`` ignores what comes after; hypercorn's stream
    #: queues it as it closes, when its reader task reads the answer, and after a
    #: refused handshake ``refusal_lost_turns`` later, when it reads the end of the
    #: socket).  A client that does not read (``pause_reading()``) answers once it reads
    #: again, and its own close or drop ends the handshake instead: the app is told the
    #: code its close gave the connection where ``disconnect_code_after_close`` is one
    #: (hypercorn: 1000), and ``drop_code`` for a drop otherwise.  Otherwise the answer
    #: comes at once, behind the client's frames on their way.
    disconnects_when_gone: bool = False
    #: What an app's send or close does once the connection is gone: the loop turn
    #: after the client's close, at once after a drop, three turns after the app's own
    #: close (the client reads it at the next poll and answers at once, the server
    #: reads the answer at the poll after and closes the socket, and asyncio reports
    #: the connection lost on the next turn); ``None``: as just after the client's
    #: close.  uvicorn raises ``ClientDisconnected`` then, hypercorn returns at once
    #: (its stream is closed).
    after_lost: Consequence | None = None
    #: Loop turns from a frame the client sends (a message, its close, or a drop) until
    #: the server reads it, with the ``websockets`` client in the same loop, so that the
    #: app's calls in between go through: a server in the loop reads it when the loop
    #: polls its sockets, behind the callbacks already due (measured on the corpus: 3
    #: for uvicorn and hypercorn); one that reads in a thread of its own hands it to the
    #: loop among them (2 for granian and daphne).  Frames arrive in the order sent, and
    #: the client's answer to the app's close comes behind them.  None while the app
    #: waits in ``receive()`` and nothing is on its way: it runs nothing meanwhile
    #: (unless ``reads_in_another_thread``).
    client_frame_turns: int = 3
    #: Whether the server reads the socket in a thread of its own and hands what it
    #: read to the app's loop (daphne's Twisted reactor, granian's Rust runtime): a
    #: client's frame then takes ``client_frame_turns`` even while the app waits in
    #: ``receive()``.
    reads_in_another_thread: bool = False
    #: What a ``receive()`` returns once the app has had a disconnect or has closed:
    #: what the server queued, then nothing ever (``"wait"``), or at once a disconnect
    #: with this code, whatever was queued (granian: 1005, its socket is closed).
    receive_after_disconnect: Literal["wait"] | int = "wait"
    #: Whether ``websocket.receive`` carries both keys, the one unused as ``None``.
    receive_has_both_keys: bool = False
    #: The largest message a client may send, in bytes.
    max_message_size: int = 16 * 2**20
    #: The largest message the app may send, in bytes: a larger one raises in ``send()``
    #: and is not sent (daphne: autobahn's limit is both ways); ``None``: no limit.
    app_max_message_size: int | None = None
    #: The close a client gets for a larger one, and the app's disconnect: ``(code,
    #: reason)``, ``"{size}"`` and ``"{limit}"`` in the reason filled in; ``None`` for
    #: the client: never closed.
    too_big: tuple[tuple[int, str] | None, tuple[int, str]] = ((1009, ""), (1009, ""))

    #: A ``websocket.close`` that one task sends while another waits in ``receive()``:
    #: ``"returns"``, sent and ``send()`` returns at once; ``"returns_after_receive"``,
    #: sent, and ``send()`` returns once that ``receive()`` has returned the client's
    #: answer (granian); ``"held"``, not sent until that ``receive()`` returns, so the
    #: client never gets it (granian before 2.8.9).
    close_while_receive_waits: Literal["returns", "returns_after_receive", "held"] = "returns"

    # -- a client that does not read -------------------------------------------------
    #: Payload bytes the server and the OS hold for a client that reads nothing, before
    #: the app's ``send()`` waits (measured on loopback here; the kernel's buffers set
    #: it); ``None``: ``send()`` never waits and the server buffers without bound.
    send_buffer: int | None = 4_020_000
    #: Whether a ``send()`` that waits has written its message already, so that it is
    #: delivered even if the send is cancelled; otherwise the send waits first and a
    #: cancelled one is lost.
    writes_before_waiting: bool = False

    # -- shutdown --------------------------------------------------------------------
    #: The close code a client gets at shutdown (SIGTERM); ``None``: nothing, ever.
    shutdown_close: int | None = 1012
    #: The disconnect code the app gets at shutdown; ``None``: it is cancelled instead.
    shutdown_disconnect: int | None = 1012

    # -- what varies live ------------------------------------------------------------
    #: The situations (:func:`situation`) where the server's outcome varied from one
    #: live run to the next in the recorded corpus (``tests/fidelity/corpus.jsonl``,
    #: whose test keeps this in step): what the app sees there is not deterministic.
    nondeterministic: frozenset[str] = frozenset()

    # -- the rules -------------------------------------------------------------------
    #: What the server does with each rule's violation when the rule is not enforced.
    consequences: Mapping[str, Consequence] = field(default_factory=dict)
    #: For the rules it allows: what it sends instead.
    lenient: Mapping[str, Lenient] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = sorted(RULES.keys() - self.consequences.keys())
        if missing:
            raise ValueError(f"profile {self.name!r} says nothing about {missing}")
        unexplained = sorted(
            rule
            for rule, consequence in self.consequences.items()
            if consequence is Consequence.ALLOW
            and rule not in self.lenient
            and rule not in _ALLOWED_BY_DESIGN
        )
        if unexplained:
            raise ValueError(f"profile {self.name!r} allows {unexplained} without saying how")

    def refuses_code_before_state(self, code: object, reason: object) -> bool:
        """Whether a close after the app's own raises on its code: this server checks
        the code before its state, and refuses this one (``checks_close_code_first``).

        >>> PROFILES["daphne"].refuses_code_before_state(1001, "")
        True
        """
        return self.checks_close_code_first and self.close_fix(code, reason)[0] is CloseFix.RAISE

    def drops_empty(self, message: Mapping[str, Any]) -> bool:
        """Whether this server drops *message*, an empty ``websocket.send``, before
        anything looks at it (``sends_empty_messages``).

        >>> PROFILES["daphne"].drops_empty({"type": "websocket.send", "text": ""})
        True
        """
        return (
            not self.sends_empty_messages
            and message.get("type") == "websocket.send"
            and not (message.get("text") or message.get("bytes"))
        )

    def close_fix(self, code: object, reason: object) -> tuple[CloseFix, int, str]:
        """What this server does with ``websocket.close`` after accept: a refusal
        (``RAISE``, ``QUEUE_THEN_RAISE``, ``RAISE_CLOSED``), or ``SEND`` and the code and
        reason of the frame it sends.

        >>> PROFILES["uvicorn-wsproto"].close_fix(1005, "x" * 124)
        (<CloseFix.SEND: 'send'>, 1000, 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx')
        """
        fixes = [self.close_fixes.get(kind, CloseFix.SEND) for kind in close_kinds(code, reason)]
        for refusal in _REFUSALS:
            if refusal in fixes:
                return refusal, 0, ""
        if CloseFix.CODE_1000 in fixes:
            code = 1000
        elif CloseFix.AS_INT in fixes:
            try:
                code = int(code)  # type: ignore[call-overload]
            except (TypeError, ValueError):
                return CloseFix.RAISE_CLOSED, 0, ""
        if CloseFix.NO_REASON in fixes or not self.sends_close_reason:
            reason = ""
        elif CloseFix.TRUNCATE in fixes:
            reason = str(reason).encode("utf-8")[:MAX_CLOSE_REASON_BYTES].decode("utf-8", "ignore")
        return CloseFix.SEND, code, reason  # type: ignore[return-value]

    def scope_fields(self) -> dict[str, Any]:
        """What this server's scopes have that others' may not, for a description."""
        return {
            "spec_version": self.spec_version,
            "state": self.lifespan,
            "ports as str": self.ports_as_str,
            "http_version and scheme": self.http_fields,
            "extensions": list(self.extensions),
        }


# Rules whose ALLOW is not a message of the server's making: the close rules follow
# the close fields above, and the others are about receive and return.
_ALLOWED_BY_DESIGN = frozenset(
    {
        "close-code",
        "close-reason",
        "subprotocol-not-offered",
        "receive-after-disconnect",
        "app-return-value",
        "denial-without-extension",
        "denial-incomplete",
    }
)

_DENIAL = "websocket.http.response"


def _consequences(**changes: Consequence) -> Mapping[str, Consequence]:
    """Every rule's consequence: a server raises in send(), unless *changes* say otherwise.

    Keyword names are the rule names with ``_`` for ``-``.
    """
    table = dict.fromkeys(RULES, Consequence.RAISE)
    table.update(
        {
            "close-code": Consequence.ALLOW,
            "close-reason": Consequence.ALLOW,
            # sent; the client fails the handshake and drops the connection
            "subprotocol-not-offered": Consequence.ALLOW,
            "receive-after-disconnect": Consequence.ALLOW,  # see receive_after_disconnect
            "app-return-value": Consequence.ALLOW,  # logged, and ignored
            "denial-without-extension": Consequence.ALLOW,  # see sends_denial
            "denial-incomplete": Consequence.DROP,
            "header-name-case": Consequence.ALLOW,
        }
    )
    for name, consequence in changes.items():
        rule = name.replace("_", "-")
        if rule not in RULES:
            raise ValueError(f"no rule {rule!r}")
        table[rule] = consequence
    return MappingProxyType(table)


#: uvicorn with its default WebSocket implementation, websockets-sansio.
UVICORN = ServerProfile(
    name="uvicorn",
    title="uvicorn 0.54 (websockets-sansio)",
    spec_version="2.4",
    extensions=(_DENIAL,),
    disconnect_reason=True,
    disconnect_code_after_close="own",
    lost_code=1005,
    refusal_lost_turns=1,  # the transport is closed in send(): lost on the next turn
    # websockets refuses to build any frame but a valid one, after uvicorn has queued
    # the app's disconnect
    close_fixes=dict.fromkeys(
        set(CloseKind) - {CloseKind.PREDEFINED_CODE}, CloseFix.QUEUE_THEN_RAISE
    ),
    after_lost=Consequence.RAISE,
    too_big=(
        (1009, "frame with {size} bytes exceeds limit of {limit} bytes"),
        (1009, "frame with {size} bytes exceeds limit of {limit} bytes"),
    ),
    consequences=_consequences(
        text_and_bytes=Consequence.ALLOW,
        neither_text_nor_bytes=Consequence.IGNORE,
        accept_subprotocol_header=Consequence.ALLOW,
        accept_subprotocol_type=Consequence.ALLOW,
    ),
    lenient=MappingProxyType(
        {
            "text-and-bytes": _bytes_win,
            "header-name-case": _lowercased,
            "accept-subprotocol-header": _header_as_subprotocol,
            "accept-subprotocol-type": _as_sent,
            "subprotocol-not-offered": _falsy_subprotocol_left_out,
        }
    ),
)

#: uvicorn with its wsproto WebSocket implementation.
UVICORN_WSPROTO = ServerProfile(
    name="uvicorn-wsproto",
    title="uvicorn 0.54 (wsproto 1.3)",
    spec_version="2.4",
    extensions=(_DENIAL,),
    disconnect_reason=True,
    close_fixes={
        CloseKind.LOCAL_CODE: CloseFix.CODE_1000,  # wsproto; 1004 and the rest go out as asked
        CloseKind.LONG_REASON: CloseFix.TRUNCATE,
        # struct.pack or str.encode fails, after uvicorn has queued the app's disconnect
        CloseKind.CODE_NOT_INT: CloseFix.QUEUE_THEN_RAISE_CLOSED,
        CloseKind.REASON_NOT_STR: CloseFix.QUEUE_THEN_RAISE_CLOSED,
        CloseKind.UNENCODABLE_REASON: CloseFix.QUEUE_THEN_RAISE_CLOSED,
    },
    after_lost=Consequence.RAISE,
    close_after_client_close=Consequence.RAISE,
    disconnect_code_after_close="own",
    lost_code=1005,
    refusal_lost_turns=1,  # the transport is closed in send(): lost on the next turn
    too_big=(
        (1009, "Message exceeds the maximum size ({limit} bytes)"),
        (1009, "Message exceeds the maximum size ({limit} bytes)"),
    ),
    consequences=_consequences(
        subprotocol_not_offered=Consequence.RAISE,  # wsproto refuses it: the handshake hangs
        text_and_bytes=Consequence.ALLOW,
        send_text_type=Consequence.ALLOW,
        send_bytes_type=Consequence.ALLOW,
        header_type=Consequence.ALLOW,
        accept_subprotocol_header=Consequence.ALLOW,
        accept_subprotocol_type=Consequence.DROP,
    ),
    lenient=MappingProxyType(
        {
            "text-and-bytes": _bytes_win,
            "send-text-type": _the_other_kind,
            "send-bytes-type": _the_other_kind,
            "header-name-case": _lowercased,
            "header-type": _str_headers_encoded,
            "accept-subprotocol-header": _header_as_subprotocol,
        }
    ),
)

#: Hypercorn, whose WebSocket implementation is wsproto.
HYPERCORN = ServerProfile(
    name="hypercorn",
    title="Hypercorn 0.18 (wsproto 1.3)",
    spec_version="2.3",
    extensions=(_DENIAL,),
    raise_after_accept=1011,
    return_after_accept=1011,
    close_fixes={
        CloseKind.LOCAL_CODE: CloseFix.CODE_1000,  # wsproto; 1004 and the rest go out as asked
        CloseKind.LONG_REASON: CloseFix.TRUNCATE,
        CloseKind.CODE_NOT_INT: CloseFix.AS_INT,  # int(message["code"])
        # its state is CLOSED before wsproto fails on the reason
        CloseKind.REASON_NOT_STR: CloseFix.RAISE_CLOSED,
        CloseKind.UNENCODABLE_REASON: CloseFix.RAISE_CLOSED,
    },
    error_body=b"",
    disconnect_code=1006,
    disconnect_code_after_close=1000,
    disconnect_after_refusal=(1000, 1000),  # its state is HTTPCLOSED: NORMAL_CLOSURE
    # it sends the response and closes the connection; its stream closes turns later
    # (measured on the corpus: 4 to 6 give the same outcomes)
    refusal_lost_turns=4,
    disconnects_when_gone=True,
    holds_denial_start=True,
    close_after_close=Consequence.IGNORE,
    after_lost=Consequence.IGNORE,  # its stream is closed: app_send() returns at once
    drop_code=1006,
    send_after_client_close=Consequence.IGNORE,
    receive_has_both_keys=True,
    too_big=(None, (1006, "")),
    send_buffer=4_040_000,
    writes_before_waiting=True,
    shutdown_close=1011,
    shutdown_disconnect=None,
    consequences=_consequences(
        subprotocol_not_offered=Consequence.RAISE,  # its handshake raises: the handshake hangs
        text_and_bytes=Consequence.ALLOW,
        header_type=Consequence.DROP,
        accept_subprotocol_header=Consequence.DROP,
        accept_subprotocol_type=Consequence.DROP,
        response_status=Consequence.IGNORE,
    ),
    lenient=MappingProxyType(
        {
            "text-and-bytes": _bytes_win,
            "header-name-case": _lowercased,
        }
    ),
)

#: Granian, embedded, with its ASGI interface.
GRANIAN = ServerProfile(
    name="granian",
    title="Granian 2.8 (ASGI)",
    spec_version="2.3",
    extensions=("http.response.pathsend", _DENIAL),
    ports_as_str=True,
    raise_before_accept=403,
    return_before_accept=403,
    streams_denial_body=False,
    sends_accept_headers=False,
    sends_until_disconnect_read=True,
    answers_close_when_read=True,
    client_frame_turns=2,
    reads_in_another_thread=True,
    raise_after_accept=1005,
    return_after_accept=1005,
    receive_after_disconnect=1005,
    close_fixes={  # any int goes out as asked, and a reason over 123 bytes whole
        CloseKind.CODE_NOT_INT: CloseFix.CODE_1000,
        CloseKind.REASON_NOT_STR: CloseFix.NO_REASON,
        CloseKind.UNENCODABLE_REASON: CloseFix.NO_REASON,
    },
    send_after_client_close=Consequence.IGNORE,
    too_big=((1005, ""), (1005, "")),
    send_buffer=3_970_000,
    close_while_receive_waits="returns_after_receive",
    disconnect_code_after_close=1005,
    disconnect_after_refusal=(1005, None),
    close_after_refusal_disconnects=True,
    shutdown_close=1006,
    shutdown_disconnect=1005,  # most runs: the process may exit before the app hears it
    consequences=_consequences(
        send_text_type=Consequence.ALLOW,
        send_bytes_type=Consequence.ALLOW,
        send_text_encoding=Consequence.ALLOW,
        send_before_accept=Consequence.IGNORE,
        message_after_close=Consequence.IGNORE,
        header_type=Consequence.ALLOW,
        accept_subprotocol_header=Consequence.ALLOW,
        accept_subprotocol_type=Consequence.ALLOW,
    ),
    lenient=MappingProxyType(
        {
            "send-text-type": _empty_of_its_kind,
            "send-bytes-type": _empty_of_its_kind,
            "send-text-encoding": _empty_of_its_kind,
            "header-name-case": _lowercased,
            "header-type": _str_headers_encoded,
            "accept-subprotocol-header": _as_sent,
            "accept-subprotocol-type": _without_subprotocol,
        }
    ),
)

#: Daphne, on Twisted and autobahn.
DAPHNE = ServerProfile(
    name="daphne",
    title="Daphne 4.2 (Twisted 26.10, autobahn 26.10)",
    spec_version=None,
    extensions=(),
    lifespan=False,
    http_fields=False,
    error_body=b"",
    sends_accept_headers=False,
    sends_empty_messages=False,
    sends_until_disconnect_read=True,
    return_before_accept=None,
    return_after_accept=None,
    # autobahn takes 1000 and 3000-4999 only; daphne never sends the reason
    close_fixes={
        kind: CloseFix.RAISE
        for kind in (
            CloseKind.RESERVED_CODE,
            CloseKind.LOCAL_CODE,
            CloseKind.UNREGISTERED_CODE,
            CloseKind.PREDEFINED_CODE,
            CloseKind.CODE_NOT_INT,
        )
    },
    sends_close_reason=False,
    disconnect_after_refusal=(1006, None),
    refusal_lost_turns=0,  # the protocol is disconnected at once: sends are ignored
    client_frame_turns=2,
    reads_in_another_thread=True,
    # Twisted's thread and the close handshake race: raised in some live runs, ignored
    # in others
    nondeterministic=frozenset(
        situation(kind, app_closed, not app_closed)
        for kind in ("websocket.send", "websocket.close")
        for app_closed in (True, False)
    ),
    after_lost=Consequence.IGNORE,
    drop_code=1006,
    close_echo=1000,
    close_after_close=Consequence.IGNORE,
    checks_close_code_first=True,
    disconnects_when_gone=True,
    send_after_client_close=Consequence.IGNORE,
    max_message_size=2**20,
    app_max_message_size=2**20,
    too_big=((1006, ""), (1006, "")),
    send_buffer=None,  # Twisted buffers without bound: 20 MB held for one client here
    raise_after_accept=1011,
    shutdown_close=1006,
    shutdown_disconnect=None,
    consequences=_consequences(
        subprotocol_not_offered=Consequence.IGNORE,  # autobahn fails the handshake: it hangs
        neither_text_nor_bytes=Consequence.IGNORE,
        unknown_message_type=Consequence.IGNORE,
        denial_after_accept=Consequence.IGNORE,
        body_before_start=Consequence.IGNORE,
        response_status=Consequence.IGNORE,
        response_body_type=Consequence.IGNORE,
        header_type=Consequence.ALLOW,
        accept_subprotocol_header=Consequence.ALLOW,
        accept_subprotocol_type=Consequence.ALLOW,
        denial_without_extension=Consequence.IGNORE,
        denial_incomplete=Consequence.IGNORE,
    ),
    lenient=MappingProxyType(
        {
            "header-name-case": _lowercased,
            "header-type": _str_headers_encoded,
            "accept-subprotocol-header": _as_sent,
            "accept-subprotocol-type": _as_sent,
        }
    ),
)

#: Every profile, by name.
PROFILES: Mapping[str, ServerProfile] = MappingProxyType(
    {profile.name: profile for profile in (UVICORN, UVICORN_WSPROTO, HYPERCORN, GRANIAN, DAPHNE)}
)
