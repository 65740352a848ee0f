"""The blocking API: the same client and sessions in plain ``def`` tests.

>>> def test_hello():  # doctest: +SKIP
...     with TestClient(app) as client, client.websocket_connect("/ws") as ws:
...         assert ws.receive_text() == "Hello"

``with TestClient(app)`` starts an event loop in a thread of its own (a
:class:`~yaat_testing.portal.Portal`, as Starlette's client uses anyio's blocking
portal), runs the app's lifespan and every session there,
and hands back a :class:`SyncTestClient`.  Every method blocks until the call it makes
in that loop is done: timeouts, app exceptions, denials, transcripts and strictness
are the async API's own.  The caller's context variables reach the app.  Leaving the
block stops the loop and joins the thread.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from yaat.datastructures import Headers
from yaat.protocol import WebSocketState
from yaat.types import Message
from yaat.websockets import JSONMode, decode_json
from yaat_testing.exceptions import WebSocketTimeout
from yaat_testing.portal import Portal
from yaat_testing.session import (
    Close,
    WebSocketSession,
    bytes_message,
    bytes_of,
    json_message,
    text_message,
    text_of,
)
from yaat_testing.transcript import Transcript

if TYPE_CHECKING:
    import httpx

    from yaat_testing.client import HeaderInput, TestClient, _Connect

T = TypeVar("T")


class SyncWebSocketSession:
    """A :class:`~yaat_testing.WebSocketSession` whose methods block.

    >>> with client.websocket_connect("/ws") as ws:  # doctest: +SKIP
    ...     ws.send_text("hi")
    ...     assert ws.receive_text() == "echo: hi"

    Sends return at once, as a real client's do: the message is handed to the loop's
    thread, and what fails there is raised by the next call.  A receive takes a message
    that is there already without a trip to the loop, and waits for one in this thread,
    woken by the loop when it comes.  Everything else runs in the loop, as the async
    session's own method.
    """

    def __init__(self, session: WebSocketSession, portal: Portal) -> None:
        #: The async session this one drives.
        self.session = session
        self._portal = portal
        self._posted_error: BaseException | None = None

    def _call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        if self._posted_error is None:  # the plain case, without a coroutine around it
            plain: T = self._portal.call(function, *args)
            return plain
        result: T = self._portal.call(self._after_posted, function, *args)
        return result

    async def _after_posted(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run *function*, after raising what an earlier posted send raised."""
        error, self._posted_error = self._posted_error, None
        if error is not None:
            raise error
        return await function(*args)

    def _send(self, message: Message) -> None:
        """Send without waiting for the app, as a real client's send does not wait.

        What the async ``send()`` would raise at once is raised here.  A message handed
        to a loop that another thread runs is delivered there; what fails then is
        raised by the next call, as with a real socket.
        """
        session = self.session
        session._check_sendable(message)
        connection = session._connection
        if connection.failures.pending or message["type"] != "websocket.receive":
            self._call(session.send, message)
            return
        portal = self._portal
        if not portal.borrow():
            portal.call_soon(self._deliver, message)
            return
        try:  # the loop is this thread's for now: deliver from here, no hand-over
            if self._posted_error is not None or not connection.send_nowait(message):
                self._call(session.send, message)
        finally:
            portal.give_back()

    def _deliver(self, message: Message) -> None:
        """In the loop's thread: hand a posted message to the connection."""
        connection = self.session._connection
        try:
            if not connection.send_nowait(message):
                self._portal.post(self._posted, message)
        except BaseException as error:  # raised by the next call
            if self._posted_error is None:
                self._posted_error = error

    async def _posted(self, message: Message) -> None:
        try:
            await self.session.send(message)
        except BaseException as error:  # raised by the next call
            if self._posted_error is None:
                self._posted_error = error

    # -- what the async session knows -------------------------------------------------

    @property
    def subprotocol(self) -> str | None:
        """The subprotocol the app accepted with, or ``None``."""
        return self.session.subprotocol

    @property
    def accept_headers(self) -> Headers:
        """The extra headers the app sent with ``websocket.accept``."""
        return self.session.accept_headers

    @property
    def transcript(self) -> Transcript:
        """Every message both ways, with timestamps."""
        return self.session.transcript

    @property
    def state(self) -> WebSocketState:
        """CONNECTED until the app closes, the connection drops, or :meth:`close`."""
        return self.session.state

    @property
    def close_code(self) -> int | None:
        """The close code, once the connection ended."""
        return self.session.close_code

    @property
    def close_reason(self) -> str | None:
        """The close reason, once the connection ended."""
        return self.session.close_reason

    # -- the same methods, blocking ---------------------------------------------------

    def send(self, message: Message) -> None:
        """Send a raw ``websocket.receive`` or ``websocket.disconnect`` message."""
        self._send(message)

    def send_text(self, data: str) -> None:
        """Send a text message."""
        self._send(text_message(data))

    def send_bytes(self, data: bytes) -> None:
        """Send a binary message."""
        self._send(bytes_message(data))

    def send_json(self, data: Any, mode: JSONMode = "text") -> None:
        """Send *data* as JSON, as a text message or (``mode="bytes"``) a binary one."""
        self._send(json_message(data, mode))

    def receive(self, timeout: float | None = None) -> Message:
        """The app's next raw message."""
        return self._receive(timeout, "receive()")

    def receive_text(self, timeout: float | None = None) -> str:
        """The next text message; ``WebSocketDisconnect`` if the app closed."""
        return text_of(self._receive(timeout, "receive_text()"), "receive_text()")

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next binary message; ``WebSocketDisconnect`` if the app closed."""
        return bytes_of(self._receive(timeout, "receive_bytes()"), "receive_bytes()")

    def receive_json(self, mode: JSONMode = "text", timeout: float | None = None) -> Any:
        """The next message parsed as JSON."""
        call = f"receive_json(mode={mode!r})"
        if mode not in ("text", "bytes"):
            raise ValueError(f"{call}: mode must be 'text' or 'bytes', got {mode!r}")
        message = self._receive(timeout, call)
        data = text_of(message, call) if mode == "text" else bytes_of(message, call)
        return decode_json(call, data)

    def _receive(self, timeout: float | None, call: str) -> Message:
        """The next message: one that is there already is taken at once; otherwise this
        thread waits for one, running the loop itself if it can borrow it, or woken by
        the loop's put if another thread runs it.  Anything but plain data (a close, a
        failure, the time running out) is the loop's receive."""
        session = self.session
        if self._posted_error is None:
            message = session._receive_ready()
            if message is not None:
                return message
        budget = session.timeout if timeout is None else timeout
        deadline = time.monotonic() + budget
        connection = session._connection
        portal = self._portal
        here = portal.borrow()
        try:
            while (
                self._posted_error is None
                and session._takes_ready()
                and connection.wait_in_thread(deadline - time.monotonic(), run_loop=here)
            ):
                message = session._receive_ready()
                if message is not None:
                    return message
            return self._call(self._receive_in_loop, call, deadline - time.monotonic(), budget)
        finally:
            if here:
                portal.give_back()

    async def _receive_in_loop(self, call: str, remaining: float, budget: float) -> Message:
        """The async session's receive, with what is left of *budget*; a timeout is
        reported with the whole *budget*, which is what the test waited."""
        try:
            return await self.session._receive(max(remaining, 0.0), call)
        except WebSocketTimeout as error:
            if error.timeout == budget:
                raise
            raise WebSocketTimeout(error.waited_for, budget, str(self.session.transcript)) from None

    def receive_close(self, timeout: float | None = None) -> Close:
        """Wait for the app to close; ``UnexpectedMessage`` if a message comes first."""
        return self._call(self.session.receive_close, timeout)

    def receive_matching(
        self,
        predicate: Callable[[Any], object],
        *,
        decode: Literal["raw", "text", "bytes", "json"] = "raw",
        timeout: float | None = None,
    ) -> Any:
        """The first message for which *predicate* is true; the ones before are skipped."""
        return self._call(
            lambda: self.session.receive_matching(predicate, decode=decode, timeout=timeout)
        )

    def assert_nothing_received(self, within: float = 0.05) -> None:
        """Assert that the app sends nothing for *within* seconds."""
        self._call(self.session.assert_nothing_received, within)

    @property
    def reading_paused(self) -> bool:
        """Whether reading is paused (:meth:`pause_reading`)."""
        return self.session.reading_paused

    def pause_reading(self, buffer: int | None = None) -> None:
        """Stop reading: once *buffer* bytes wait, the app's ``send()`` waits too."""
        self._call(self._in_loop, self.session.pause_reading, buffer)

    def resume_reading(self) -> None:
        """Read again: what piled up arrives in order, and a waiting ``send()`` goes on."""
        self._call(self._in_loop, self.session.resume_reading)

    @staticmethod
    async def _in_loop(function: Callable[..., None], *args: Any) -> None:
        function(*args)  # in the loop's thread, after the sends posted before

    def close(self, code: int = 1000, reason: str = "", timeout: float | None = None) -> None:
        """Disconnect, then wait (bounded) for the app to finish."""
        self._call(self.session.close, code, reason, timeout)


class SyncConnect:
    """The ``with`` that :meth:`SyncTestClient.websocket_connect` returns."""

    def __init__(self, connect: _Connect, portal: Portal) -> None:
        self._connect = connect
        self._portal = portal

    def __enter__(self) -> SyncWebSocketSession:
        return SyncWebSocketSession(self._portal.call(self._connect.__aenter__), self._portal)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._portal.call(self._connect.__aexit__, exc_type, exc, tb)


class SyncTestClient:
    """What ``with TestClient(app) as client`` gives: the client's methods, blocking.

    >>> with TestClient(app) as client:  # doctest: +SKIP
    ...     assert client.get("/health").text == "ok"
    """

    def __init__(self, client: TestClient, portal: Portal) -> None:
        #: The async client this one drives, in the portal's loop.
        self.client = client
        self._portal = portal

    @property
    def app(self) -> Any:
        """The app under test."""
        return self.client.app

    @property
    def live(self) -> bool:
        """Whether sessions run against a real server."""
        return self.client.live

    @property
    def state(self) -> dict[str, Any]:
        """What the app's lifespan stored."""
        return self.client.state

    def websocket_connect(
        self,
        path: str,
        subprotocols: Sequence[str] | None = None,
        headers: HeaderInput | None = None,
        cookies: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> SyncConnect:
        """Open a WebSocket to *path*; use it as ``with ... as ws``."""
        connect = self.client.websocket_connect(path, subprotocols, headers, cookies, timeout)
        return SyncConnect(connect, self._portal)

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        """Send an HTTP request to the app through httpx; kwargs as in httpx."""
        return self._portal.call(lambda: self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``GET`` *url*."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``POST`` *url*."""
        return self.request("POST", url, **kwargs)
