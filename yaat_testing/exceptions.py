"""What the harness raises into a test.

>>> issubclass(ASGIProtocolError, RuntimeError), issubclass(WebSocketTimeout, TimeoutError)
(True, True)
"""

from __future__ import annotations

from collections.abc import Iterable

from yaat.datastructures import Headers


class ASGIProtocolError(RuntimeError):
    """The app broke the ASGI spec; the message names the rule, where it happened, the fix,
    and how to ignore the rule.

    >>> print(ASGIProtocolError("double-accept", "websocket.accept sent twice",
    ...                         "application state CONNECTED", "accept once"))
    [double-accept] websocket.accept sent twice (application state CONNECTED): accept once.
    To ignore this rule: TestClient(strict=Strict(ignore=['double-accept'])), @pytest.mark.yaat_strict(ignore=['double-accept']) or the ini key yaat_strict_ignore = double-accept; see docs/testing/rules.md#double-accept
    """

    def __init__(self, rule: str, problem: str, where: str, fix: str) -> None:
        self.rule = rule
        self.problem = problem
        #: Where it happened: ``"application state CONNECTED"``, ``"lifespan startup"``.
        self.where = where
        self.fix = fix
        super().__init__(f"[{rule}] {problem} ({where}): {fix}.\n{ignoring(rule)}")


#: Where each rule is documented: the rule's name is its anchor.
RULES_PAGE = "docs/testing/rules.md"


def ignoring(rule: str) -> str:
    """How to ignore *rule*, and where it is documented: the last line of its errors."""
    return (
        f"To ignore this rule: TestClient(strict=Strict(ignore=[{rule!r}])), "
        f"@pytest.mark.yaat_strict(ignore=[{rule!r}]) or the ini key yaat_strict_ignore = "
        f"{rule}; see {RULES_PAGE}#{rule}"
    )


class ServerRefused(RuntimeError):
    """The server of the profile in use cannot do what the app asked (it is no ASGI rule).

    >>> str(ServerRefused("daphne cannot send close code 1001", "send 1000 or 3000-4999"))
    'daphne cannot send close code 1001: send 1000 or 3000-4999'
    """

    def __init__(self, problem: str, fix: str) -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}: {fix}")


class ClientDisconnected(OSError):
    """Raised in the app's ``send()`` once the client is gone (ASGI spec 2.4).

    uvicorn raises its own class of the same name; both are ``OSError``.
    """


class WebSocketDenied(Exception):
    """The app refused the handshake: closed before accept (403), crashed (500), or
    sent a denial response through the ``websocket.http.response`` extension.

    ``status_code``, ``headers`` and ``body`` are what the client received.  For a
    close before accept, ``close_code`` and ``close_reason`` keep what the app sent,
    which the server threw away.

    >>> str(WebSocketDenied(403, close_code=1008, close_reason="no token"))
    "the WebSocket handshake was denied with HTTP 403 (the app closed with 1008 'no token' before accepting; a real server answers HTTP 403 and drops the code and reason)"
    """

    def __init__(
        self,
        status_code: int,
        headers: Iterable[tuple[bytes, bytes]] = (),
        body: bytes = b"",
        why: str = "",
        *,
        close_code: int | None = None,
        close_reason: str = "",
    ) -> None:
        self.status_code = status_code
        self.headers = Headers(headers)
        self.body = body
        #: The code of the app's close before accept, or ``None`` if it did not close.
        self.close_code = close_code
        #: The reason of that close (``""`` if none).
        self.close_reason = close_reason
        if close_code is not None and not why:
            said = f" {close_reason!r}" if close_reason else ""
            why = (
                f"the app closed with {close_code}{said} before accepting; a real server "
                f"answers HTTP {status_code} and drops the code and reason"
            )
        detail = f" ({why})" if why else ""
        shown = f": {body[:200]!r}" if body else ""
        super().__init__(
            f"the WebSocket handshake was denied with HTTP {status_code}{detail}{shown}"
        )

    @property
    def text(self) -> str:
        """The body decoded as UTF-8."""
        return self.body.decode("utf-8", errors="replace")


class WebSocketTimeout(TimeoutError):
    """A wait on a session ran out of time; the message carries the session's transcript."""

    def __init__(self, waited_for: str, timeout: float, transcript: str = "") -> None:
        self.waited_for = waited_for
        self.timeout = timeout
        message = f"timed out after {timeout:g}s waiting for {waited_for}"
        if transcript:
            message += f"\n{transcript}"
        super().__init__(message)


class LiveModeUnavailable(RuntimeError):
    """Live mode cannot run here: the test runs on trio, and the real servers and the
    ``websockets`` client run on asyncio.  Under ``--yaat-live`` such a test is skipped
    with this reason; asked for by the test itself (``live=True``), it is an error.

    >>> str(LiveModeUnavailable("trio")).split(":")[0]
    'live mode runs on asyncio (the servers and the websockets client), and this test runs on trio'
    """

    def __init__(self, library: str) -> None:
        self.library = library
        super().__init__(
            "live mode runs on asyncio (the servers and the websockets client), and this "
            f"test runs on {library}: run it in memory, where TestClient(server=...) shows "
            "each server's behaviour, or run its live variant on asyncio"
        )


class UnexpectedMessage(AssertionError):
    """A session helper's expectation about the next message did not hold."""


class LifespanFailed(RuntimeError):
    """The app's lifespan startup or shutdown failed, with the app's own message."""

    def __init__(self, phase: str, message: str) -> None:
        self.phase = phase
        self.message = message
        super().__init__(
            f"lifespan {phase} failed: {message}" if message else f"lifespan {phase} failed"
        )


class ConcurrentReceiveError(RuntimeError):
    """A second receive on a session while the first one still waits.

    >>> str(ConcurrentReceiveError("receive_text()", "receive_json()")).split(":")[0]
    'receive_text() while receive_json() is still waiting on this session'
    """

    def __init__(self, call: str, waiting: str) -> None:
        self.call = call
        self.waiting = waiting
        super().__init__(
            f"{call} while {waiting} is still waiting on this session: probably two tasks "
            "receive at once (asyncio.gather, create_task). Instead, receive in one task "
            "and hand the messages on, e.g. through an asyncio.Queue; or open one session "
            "per reader"
        )
