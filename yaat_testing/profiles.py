"""Server profiles: what a real server does, as data the in-memory transport follows.

>>> UVICORN.consequences["text-and-bytes"]
<Consequence.ALLOW: 'allow'>

Servers agree on the ASGI spec and disagree on what they do when an app breaks it, or
when a connection ends early.  A profile records one server's answers; the in-memory
transport reads them whenever a rule is not enforced (``strict=False`` or
``Strict(ignore=...)``) and whenever the spec leaves the choice to the server.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from yaat_testing.rules import RULES


class Consequence(enum.Enum):
    """What a server does with a message that breaks a rule."""

    #: The app's ``send()`` raises; nothing is sent and the connection goes on.
    RAISE = "raise"
    #: The app's ``send()`` raises and the connection drops: the client sees 1006.
    DROP = "drop"
    #: The server goes on in its own way: the docs of each rule say how.
    ALLOW = "allow"


@dataclass(frozen=True)
class ServerProfile:
    """One server's behaviour, for the in-memory transport to reproduce."""

    #: The name ``TestClient(server=...)`` and ``--yaat-server`` take.
    name: str
    #: The server and the version its behaviour was recorded with.
    title: str
    #: ``scope["asgi"]["spec_version"]``.
    spec_version: str
    #: Whether the scope advertises the ``websocket.http.response`` extension.
    denial_extension: bool
    #: What the server does with each rule's violation when the rule is not enforced.
    consequences: Mapping[str, Consequence]
    #: The HTTP status a client gets when the app raises before accepting.
    raise_before_accept_status: int = 500
    #: The HTTP status a client gets when the app returns before accepting.
    return_before_accept_status: int = 500
    #: The HTTP status a client gets when the app closes before accepting.
    close_before_accept_status: int = 403

    def __post_init__(self) -> None:
        missing = sorted(RULES.keys() - self.consequences.keys())
        if missing:
            raise ValueError(f"profile {self.name!r} says nothing about {missing}")


_RAISE, _DROP, _ALLOW = Consequence.RAISE, Consequence.DROP, Consequence.ALLOW

#: uvicorn with its default WebSocket implementation, websockets-sansio.
UVICORN = ServerProfile(
    name="uvicorn",
    title="uvicorn 0.54 (websockets-sansio)",
    spec_version="2.4",
    denial_extension=True,
    consequences=MappingProxyType(
        {
            # Which message may follow which: uvicorn raises RuntimeError in send().
            "message-not-a-dict": _RAISE,
            "unknown-message-type": _RAISE,
            "send-before-accept": _RAISE,
            "body-before-start": _RAISE,
            "double-accept": _RAISE,
            "denial-after-accept": _RAISE,
            "denial-incomplete": _DROP,
            "message-after-close": _RAISE,
            # websocket.accept
            "accept-subprotocol-type": _RAISE,
            "subprotocol-not-offered": _ALLOW,  # sent; the client fails the handshake
            "header-type": _RAISE,
            "accept-subprotocol-header": _RAISE,
            "header-name-case": _ALLOW,  # lowercased
            # websocket.send
            "text-and-bytes": _ALLOW,  # the bytes are sent
            "neither-text-nor-bytes": _ALLOW,  # nothing is sent
            "send-text-type": _DROP,
            "send-bytes-type": _DROP,
            # websocket.close after accept
            "close-code": _DROP,
            "close-reason": _DROP,
            # the denial response
            "denial-without-extension": _RAISE,
            "response-status": _RAISE,
            "response-body-type": _RAISE,
            # receive, return, lifespan
            "receive-after-disconnect": _ALLOW,  # receive() waits for ever
            "app-return-value": _ALLOW,  # logged, then ignored
            "lifespan-message": _RAISE,
        }
    ),
)

#: Every profile, by name.
PROFILES: Mapping[str, ServerProfile] = MappingProxyType({UVICORN.name: UVICORN})
