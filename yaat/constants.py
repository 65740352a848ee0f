"""WebSocket close codes.

>>> from yaat.constants import WebSocketCloseEvent as WsClose
>>> WsClose.POLICY_VIOLATION == 1008
True
"""

from __future__ import annotations

import enum


class WebSocketCloseEvent(enum.IntEnum):
    """Close codes from the IANA registry (RFC 6455 §7.4), usable wherever an ``int`` is.

    ``NO_STATUS_RECEIVED`` (1005), ``ABNORMAL_CLOSURE`` (1006) and ``TLS_HANDSHAKE``
    (1015) are for *reading*: RFC 6455 §7.4.1 forbids putting them in a close frame,
    because they describe a connection that ended *without* one.  You will see 1006 in
    ``WebSocketDisconnect.code`` when the peer vanished, but ``websocket.close(1006)``
    raises ``ValueError``; send ``INTERNAL_ERROR`` (1011) or ``GOING_AWAY`` (1001) instead.
    See https://developer.mozilla.org/en-US/docs/Web/API/CloseEvent.
    """

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RECEIVED = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MISSING_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


#: The longest close reason a close frame can carry: 125 payload bytes minus the code.
MAX_CLOSE_REASON_BYTES = 123

#: The largest message a client may send, in bytes, unless an app or route says
#: otherwise; ``yaat run`` gives the server the same limit.  uvicorn's own is 16 MiB.
DEFAULT_MAX_MESSAGE_SIZE = 2**20


def close_code_problem(code: object) -> str | None:
    """Say why *code* may not be sent in a close frame, or return ``None`` if it may.

    >>> close_code_problem(1000) is None
    True
    >>> close_code_problem(1006)
    'close code 1006 is reserved for reading (RFC 6455 §7.4.1): send 1000-1003, 1007-1014 or 3000-4999'
    """
    allowed = "send 1000-1003, 1007-1014 or 3000-4999"
    if isinstance(code, bool) or not isinstance(code, int):
        return f"close code must be an int, got {type(code).__name__} {code!r}: {allowed}"
    if code in (1004, 1005, 1006, 1015):
        return f"close code {code} is reserved for reading (RFC 6455 §7.4.1): {allowed}"
    if 1000 <= code <= 1014 or 3000 <= code <= 4999:
        return None
    return f"close code {code} is outside the ranges RFC 6455 §7.4 allows: {allowed}"


def close_reason_problem(reason: object) -> str | None:
    """Say why *reason* may not be sent in a close frame, or return ``None`` if it may.

    >>> close_reason_problem("bye") is None
    True
    """
    if not isinstance(reason, str):
        return f"close reason must be a str, got {type(reason).__name__}"
    try:
        size = len(reason.encode("utf-8"))
    except UnicodeEncodeError as error:
        return (
            f"close reason has a lone surrogate {reason[error.start]!r} at index "
            f"{error.start}, which UTF-8 cannot encode: replace it"
        )
    if size > MAX_CLOSE_REASON_BYTES:
        return (
            f"close reason is {size} UTF-8 bytes; a close frame carries at most "
            f"{MAX_CLOSE_REASON_BYTES} (RFC 6455 §5.5): shorten it"
        )
    return None


def http_status_problem(status: object) -> str | None:
    """Say why *status* is not an HTTP status a response may carry, or return ``None``.

    >>> http_status_problem(403) is None
    True
    >>> http_status_problem(99)
    'HTTP status 99 is outside 100-599'
    """
    if isinstance(status, bool) or not isinstance(status, int):
        return f"HTTP status must be an int, got {type(status).__name__} {status!r}"
    if not 100 <= status <= 599:
        return f"HTTP status {status} is outside 100-599"
    return None
