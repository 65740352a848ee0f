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

from collections.abc import Callable, Coroutine, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from yaat.datastructures import Headers
from yaat.protocol import WebSocketState
from yaat.types import Message
from yaat.websockets import JSONMode
from yaat_testing.portal import refuse_inside_a_loop
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


class Caller(Protocol):
    """What runs the async calls: a :class:`Portal`, or anyio's ``BlockingPortal``."""

    def call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run ``function(*args)`` in the portal's loop and return its result."""
        ...


class SyncWebSocketSession:
    """A :class:`~yaat_testing.WebSocketSession` whose methods block.

    >>> with client.websocket_connect("/ws") as ws:  # doctest: +SKIP
    ...     ws.send_text("hi")
    ...     assert ws.receive_text() == "echo: hi"
    """

    def __init__(self, session: WebSocketSession, portal: Caller) -> None:
        #: The async session this one drives.
        self.session = session
        self._portal = portal
        self._posted_error: BaseException | None = None

    def _call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        refuse_inside_a_loop(f"{type(self).__name__}.{function.__name__}()")
        result: T = self._portal.call(self._after_posted, function, *args)
        return result

    async def _after_posted(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run *function*, after raising what an earlier posted send raised."""
        error, self._posted_error = self._posted_error, None
        if error is not None:
            raise error
        return await function(*args)

    def _send(self, message: Message) -> None:
        """Send without waiting for the loop, as a real client's send does not wait.

        What the async ``send()`` would raise at once is raised here, in this thread;
        a failure that comes later is raised by the next call, as with a real socket.
        """
        session = self.session
        session._check_sendable(message)
        post = getattr(self._portal, "post", None)
        failures = session._connection.failures
        if post is None or failures.pending or message["type"] != "websocket.receive":
            self._call(session.send, message)
            return
        refuse_inside_a_loop(f"{type(self).__name__}.send()")
        post(self._posted, message)

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
        ready = self._ready()
        return ready if ready is not None else self._call(self.session.receive, timeout)

    def receive_text(self, timeout: float | None = None) -> str:
        """The next text message; ``WebSocketDisconnect`` if the app closed."""
        ready = self._ready()
        if ready is not None:
            return text_of(ready, "receive_text()")
        return self._call(self.session.receive_text, timeout)

    def receive_bytes(self, timeout: float | None = None) -> bytes:
        """The next binary message; ``WebSocketDisconnect`` if the app closed."""
        ready = self._ready()
        if ready is not None:
            return bytes_of(ready, "receive_bytes()")
        return self._call(self.session.receive_bytes, timeout)

    def receive_json(self, mode: JSONMode = "text", timeout: float | None = None) -> Any:
        """The next message parsed as JSON."""
        return self._call(self.session.receive_json, mode, timeout)

    def _ready(self) -> Message | None:
        """A data message that is there already, taken without a trip to the loop."""
        refuse_inside_a_loop(f"{type(self).__name__}.receive()")
        if self._posted_error is not None:
            return None
        return self.session._receive_ready()

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
        refuse_inside_a_loop(f"{type(self).__name__}.receive_matching()")
        return self._portal.call(
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

    def __init__(self, connect: _Connect, portal: Caller) -> None:
        self._connect = connect
        self._portal = portal

    def __enter__(self) -> SyncWebSocketSession:
        refuse_inside_a_loop("websocket_connect()")
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

    def __init__(self, client: TestClient, portal: Caller) -> None:
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
        refuse_inside_a_loop("request()")
        return self._portal.call(lambda: self.client.request(method, url, **kwargs))

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        """``GET`` *url*."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        """``POST`` *url*."""
        return self.request("POST", url, **kwargs)
