"""What every transport and connection provides: the base classes of custom transports.

>>> from yaat_testing.exceptions import WebSocketDenied
>>> class Refusing(Transport):
...     async def connect(self, request, timeout):
...         raise WebSocketDenied(403, why="this transport refuses everything")

A transport is an async context manager: entering starts it (the app's lifespan, or a
server), leaving stops it.  ``connect`` performs one handshake and returns a
:class:`Connection`, which carries ASGI messages between the session and the app.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import TYPE_CHECKING, Any

from yaat.types import ASGIApp, Message
from yaat_testing.exceptions import WebSocketTimeout
from yaat_testing.runner import AppRunner
from yaat_testing.scope import WebSocketRequest
from yaat_testing.transcript import Transcript

if TYPE_CHECKING:
    import httpx


class Failures:
    """The first failure a connection has to report to the test, reported once.

    A strict-mode violation or an app exception is kept here, and raised at the test's
    next await on the session: raising it twice would hide what came after.
    """

    __slots__ = ("first", "reported")

    def __init__(self) -> None:
        #: The first failure kept, if any.
        self.first: BaseException | None = None
        #: Whether it has been raised (or the test is already failing).
        self.reported = False

    def add(self, failure: BaseException) -> None:
        """Keep *failure* unless an earlier one is kept already."""
        if self.first is None:
            self.first = failure

    @property
    def pending(self) -> bool:
        """Whether a failure waits to be raised."""
        return self.first is not None and not self.reported

    def raise_pending(self) -> None:
        """Raise the kept failure, once."""
        first = self.first
        if first is not None and not self.reported:
            self.reported = True
            raise first


class Connection(abc.ABC):
    """One open WebSocket connection, as the session sees it."""

    __slots__ = ()  # subclasses may use slots: one connection is built per session

    #: Every message both ways.
    transcript: Transcript
    #: The subprotocol the app accepted with, or ``None``.
    subprotocol: str | None
    #: The extra headers the app sent with ``websocket.accept``, names lowercased.
    accept_headers: list[tuple[bytes, bytes]]
    #: The app's run: its task, error and end.
    runner: AppRunner
    #: What is reported to the test.
    failures: Failures

    #: ``(code, reason)`` once the app closed or the connection dropped (1006).
    closed: tuple[int, str] | None

    @abc.abstractmethod
    async def send(self, message: Message) -> None:
        """Deliver a ``websocket.receive`` or ``websocket.disconnect`` message to the app."""

    @abc.abstractmethod
    async def receive(self, timeout: float) -> Message:
        """The app's next ``websocket.send``, or the final ``websocket.close`` (1006 if dropped)."""

    def drop(self) -> None:
        """The client's connection drops without a close frame (the network, a crash)."""
        raise NotImplementedError(f"{type(self).__name__} cannot drop its connection")

    def pause_reading(self, buffer: int | None) -> None:
        """Stop reading: once *buffer* payload bytes wait (``None``: as many as the
        server and the OS hold), the app's ``send()`` waits, as on a real server."""
        raise NotImplementedError(f"{type(self).__name__} cannot pause reading")

    def resume_reading(self) -> None:
        """Read again: a waiting ``send()`` goes on."""
        raise NotImplementedError(f"{type(self).__name__} cannot pause reading")

    def receive_nowait(self) -> Message | None:
        """A data message that is already there, without waiting; ``None`` by default.

        It may be called from another thread than the loop's (the sync API's): an
        implementation only takes what no other step of the loop would take.
        """
        return None

    def wait_in_thread(self, timeout: float, *, run_loop: bool = False) -> bool:
        """Wait in the calling thread, for at most *timeout* seconds, until
        :meth:`receive_nowait` may have a message: ``True`` to look again, ``False`` when
        the waiting is for the loop to do (the time ran out, or something other than
        data came).  With *run_loop* the calling thread owns the connection's loop (the
        sync API borrowed it) and runs it meanwhile; otherwise another thread runs it.
        The sync API's receive waits here.  By default: ``False`` at once.
        """
        return False

    def send_nowait(self, message: Message) -> bool:
        """Deliver *message* as :meth:`send` does, without waiting, if this connection
        can: ``True`` once done, ``False`` (the default) if only :meth:`send` can.
        Called in the loop's thread."""
        return False

    @abc.abstractmethod
    async def aclose(self, timeout: float, code: int = 1000, reason: str = "") -> None:
        """Disconnect if still connected, wait (bounded) for the app to end, report failures."""

    @abc.abstractmethod
    async def abandon(self) -> None:
        """Stop the app at once and report nothing: the test is already failing."""

    @property
    def app_error(self) -> BaseException | None:
        """What the app raised, if anything, whether or not it was reported."""
        return self.runner.error

    async def finish(self, timeout: float) -> None:
        """Wait (bounded) for the app to end after a disconnect, and report its failures.

        On a timeout the app's own failure comes first: it usually explains the hang.
        """
        ended = await self.runner.wait(timeout)
        self.failures.raise_pending()
        if not ended:
            raise WebSocketTimeout(
                "the app to finish after the client disconnected (it was cancelled)",
                timeout,
                str(self.transcript),
            )


class Transport(abc.ABC):
    """Where a ``TestClient``'s connections go: in memory, or to a real server."""

    #: The ASGI app this transport serves.
    app: ASGIApp
    #: What the app's lifespan stored, copied into every scope (``scope["state"]``).
    state: dict[str, Any]

    async def start(self) -> None:
        """Start serving: run the lifespan startup, or start a server.  Nothing by default."""
        return None

    async def aclose(self) -> None:
        """Stop serving: the lifespan shutdown, or stop the server.  Nothing by default."""
        return None

    async def shutdown(self, grace: float) -> None:
        """Shut the server down as SIGTERM does, with sessions open.  By default: stop."""
        await self.aclose()

    @abc.abstractmethod
    async def connect(self, request: WebSocketRequest, timeout: float) -> Connection:
        """Perform the handshake; raise ``WebSocketDenied`` if the app refuses."""

    def http_transport(self) -> httpx.AsyncBaseTransport:
        """The httpx transport that carries ``TestClient.request()`` to the app."""
        raise NotImplementedError(f"{type(self).__name__} carries WebSockets only, not HTTP")

    async def __aenter__(self) -> Transport:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            await self.aclose()
            return
        # The test is already failing: a failure to stop is a note on it, not a new error.
        try:
            await self.aclose()
        except Exception as error:
            add_note = getattr(exc, "add_note", None)  # Python 3.11+
            if add_note is not None:
                add_note(f"while stopping {type(self).__name__}: {error!r}")
