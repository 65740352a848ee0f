"""The ASGI WebSocket protocol as data: the states, what each side may send, and where it leads.

>>> next_state(Side.APPLICATION, WebSocketState.CONNECTING, {"type": "websocket.accept"})
<WebSocketState.CONNECTED: 1>
>>> describe_allowed(Side.APPLICATION, WebSocketState.CONNECTED)
"'websocket.close' or 'websocket.send'"

This module is the one description of the protocol.  ``yaat.WebSocket`` (the
application's side) and ``yaat_testing`` (the server's side, and its validator) both
read it, and every "allowed here: ..." text is derived from it.  It does no I/O and
imports no event loop.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


class WebSocketState(enum.Enum):
    """Where one side of a connection stands.

    ``RESPONSE`` means the application is sending an HTTP denial response instead of
    accepting (the ``websocket.http.response`` extension).
    """

    CONNECTING = 0
    CONNECTED = 1
    DISCONNECTED = 2
    RESPONSE = 3

    # Members are singletons compared by identity: hash them by identity too, in C,
    # instead of Enum's hash of the name in Python (the table is read on every message).
    __hash__ = object.__hash__


class Side(enum.Enum):
    """Who sends a message.

    ``APPLICATION`` messages go through the app's ``send()``; ``CLIENT`` messages are
    what the server delivers to the app's ``receive()`` on the client's behalf.
    """

    APPLICATION = "application"
    CLIENT = "client"

    __hash__ = object.__hash__  # as for WebSocketState


#: The ASGI extension that lets an app deny a handshake with an HTTP response; a server
#: advertises it in ``scope["extensions"]``.
DENIAL_EXTENSION = "websocket.http.response"

_CONNECTING = WebSocketState.CONNECTING
_CONNECTED = WebSocketState.CONNECTED
_RESPONSE = WebSocketState.RESPONSE
_DISCONNECTED = WebSocketState.DISCONNECTED


def _frozen(
    table: dict[WebSocketState, dict[str, WebSocketState]],
) -> Mapping[WebSocketState, Mapping[str, WebSocketState]]:
    return MappingProxyType({state: MappingProxyType(row) for state, row in table.items()})


#: ``TRANSITIONS[side][state][message type]`` is the state that message leads to.  A
#: message type missing from a row is not allowed in that state.
TRANSITIONS: Mapping[Side, Mapping[WebSocketState, Mapping[str, WebSocketState]]] = (
    MappingProxyType(
        {
            Side.APPLICATION: _frozen(
                {
                    _CONNECTING: {
                        "websocket.accept": _CONNECTED,
                        "websocket.close": _DISCONNECTED,
                        "websocket.http.response.start": _RESPONSE,
                    },
                    _CONNECTED: {
                        "websocket.send": _CONNECTED,
                        "websocket.close": _DISCONNECTED,
                    },
                    _RESPONSE: {"websocket.http.response.body": _DISCONNECTED},
                    _DISCONNECTED: {},
                }
            ),
            Side.CLIENT: _frozen(
                {
                    _CONNECTING: {
                        "websocket.connect": _CONNECTED,
                        "websocket.disconnect": _DISCONNECTED,
                    },
                    _CONNECTED: {
                        "websocket.receive": _CONNECTED,
                        "websocket.disconnect": _DISCONNECTED,
                    },
                    _DISCONNECTED: {},
                }
            ),
        }
    )
)

#: A message of one of these types stays in its state while the named key is true:
#: a denial response goes on while ``more_body`` is set.
CONTINUED_BY: Mapping[str, str] = MappingProxyType({"websocket.http.response.body": "more_body"})

# Plain dicts of the same rows, for the lookups made on every message.
_ROWS = {
    side: {state: dict(row) for state, row in rows.items()} for side, rows in TRANSITIONS.items()
}
_CONTINUED_BY = dict(CONTINUED_BY)

#: Every message type each side may send, in any state.
MESSAGE_TYPES: Mapping[Side, frozenset[str]] = MappingProxyType(
    {side: frozenset(t for row in rows.values() for t in row) for side, rows in TRANSITIONS.items()}
)


def next_state(
    side: Side, state: WebSocketState, message: Mapping[str, Any]
) -> WebSocketState | None:
    """The state *message* leads *side* to from *state*, or ``None`` if it is not allowed.

    >>> next_state(Side.APPLICATION, WebSocketState.CONNECTED, {"type": "websocket.accept"}) is None
    True
    """
    message_type = message.get("type")
    if type(message_type) is not str:
        return None
    target = _ROWS[side][state].get(message_type)
    if target is None:
        return None
    continued_by = _CONTINUED_BY.get(message_type)
    if continued_by is not None and message.get(continued_by):
        return state
    return target


def allowed(side: Side, state: WebSocketState) -> tuple[str, ...]:
    """The message types *side* may send in *state*, sorted."""
    return tuple(sorted(TRANSITIONS[side][state]))


def describe_allowed(side: Side, state: WebSocketState) -> str:
    """The allowed message types as a sentence, for error messages.

    >>> describe_allowed(Side.APPLICATION, WebSocketState.DISCONNECTED)
    'nothing'
    """
    names = [repr(t) for t in allowed(side, state)]
    if not names:
        return "nothing"
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " or " + names[-1]
