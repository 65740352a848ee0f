"""Rooms: publish a message once, and every WebSocket in the room receives it.

>>> from yaat import Yaat
>>> rooms = Rooms()                       # in memory: one process, nothing to set up
>>> app = Yaat(on_startup=[rooms.connect], on_shutdown=[rooms.disconnect])
>>> @app.websocket_route("/ws/{room}")
... async def chat(websocket: WebSocket, room: str) -> None:
...     await websocket.accept()
...     async with rooms.join(room, websocket):
...         async for text in websocket.iter_text():
...             await rooms.publish_text(room, text)

With ``Rooms(RedisPubSub(url))`` several processes share their rooms (see
``yaat.pubsub``).

**Each member has its own queue and its own sender task**, so a member that does not
read never delays the publisher or the other members.  A send that completes at once
(the usual case: the server writes to its socket buffer) is made in the publisher's
task; one that has to wait is handed to the member's sender task, and the member's later
messages queue behind it.

The policy for a member that falls behind is one rule, :data:`EVICTION`: when its queue
already holds ``queue_size`` messages while its socket is stalled (the send under way
has waited :data:`STALLED` seconds), or when one send has waited ``send_timeout``
seconds, the member is removed from its room at once, what was queued for it is
dropped, and its sender task closes the connection with 1013 "try again later" once
the send under way returns (or beside it, :data:`CLOSE_AFTER` seconds later).  Nobody
waits for that: a peer that does not read takes the rest only when it reads again.  One
that never reads never takes the close: ``yaat run``'s server drops it within seconds
(``yaat.uvicorn_protocol``); plain uvicorn keeps it for ever.

``join(room, websocket, presence=...)`` lists the member in :meth:`Rooms.presence`, in
every process sharing the backend.

Memory stays bounded: a message is encoded once per publish, one ASGI message is shared
by every member, and a stalled member holds at most ``queue_size`` of them, plus what
was published during the first :data:`STALLED` seconds of its stall.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Coroutine, Generator
from types import CoroutineType
from typing import Any

from yaat.constants import WebSocketCloseEvent
from yaat.protocol import WebSocketState
from yaat.pubsub import MemoryPubSub, Payload, PubSub
from yaat.types import Message
from yaat.websockets import (
    JSONMode,
    WebSocket,
    WebSocketDisconnect,
    WebSocketStateError,
    check_text,
    encode_json,
)

logger = logging.getLogger("yaat.rooms")
_CONNECTED = WebSocketState.CONNECTED

#: The close code and reason sent to a member removed for falling behind.
EVICTION = (int(WebSocketCloseEvent.TRY_AGAIN_LATER), "try again later")
#: How long a send must have waited for a full queue to count: the socket is stalled.
#: A send to a socket that takes data returns in microseconds (granian: a loop turn).
STALLED = 0.5
#: How long an evicted member's send under way may still wait before its close is sent
#: beside it, instead of after it.
CLOSE_AFTER = 2.0
# What a WebSocket state error names as the call: a room's send, not the handler's.
_CALL = "a room's send"


class Member:
    """One WebSocket in one room, fed by its own bounded queue and sender task.

    ``removed`` says why the member left the room while its handler was still inside
    ``async with rooms.join(...)``: ``None`` while it is a member, otherwise a reason such
    as ``"queue full (256 messages not sent)"`` or ``"the client is gone"``.
    """

    __slots__ = (
        "_suspended",
        "_task",
        "_waiter",
        "evicted",
        "key",
        "presence",
        "queue",
        "removed",
        "room",
        "rooms",
        "sending_since",
        "websocket",
    )

    def __init__(
        self, rooms: Rooms, room: str, websocket: WebSocket, presence: Any = None, key: str = ""
    ) -> None:
        self.rooms = rooms
        self.room = room
        self.websocket = websocket
        #: What ``rooms.presence(room)`` lists for this member (given to ``join()``).
        self.presence = presence
        #: Its name in the backend's presence record: unique in this process.
        self.key = key
        #: Messages published to the room and not yet sent to this member.
        self.queue: deque[Message] = deque()
        self.removed: str | None = None
        #: Whether it was removed for falling behind (:data:`EVICTION`).
        self.evicted = False
        #: When the send under way started waiting (loop time); None when none waits.
        self.sending_since: float | None = None
        self._suspended: Suspended | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._task: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        state = self.removed or f"{len(self.queue)} queued"
        return f"<Member of room {self.room!r}: {state}>"

    def offer(self, message: Message) -> None:
        """Send *message* now if the socket takes it, else queue it for the sender task.

        Most sends complete without waiting (the server writes to its socket buffer), so
        they are started here, in the publisher's task: no task switch per member.  A
        send that has to wait is handed to this member's sender task, and later messages
        queue behind it, so the publisher never waits.  The member is removed when its
        queue is full while its socket is stalled (a send has waited :data:`STALLED`).
        """
        queue = self.queue
        if not queue and self.sending_since is None and self._suspended is None:
            self._start(message)
            return
        if len(queue) >= self.rooms.queue_size:
            since = self.sending_since
            if since is not None and self.rooms._loop_time() - since >= STALLED:
                self.rooms.evict(self, f"queue full ({len(queue)} messages not sent)")
                return
        queue.append(message)
        self._wake()

    def _start(self, message: Message) -> None:
        """Run the send until it completes or has to wait; hand a waiting one over."""
        websocket = self.websocket
        send: Coroutine[Any, Any, None]
        if websocket.application_state is _CONNECTED and websocket.gone is None:
            sending = websocket._send(message)  # the server's own send: nothing to check
            # Most servers' send is a coroutine; granian's returns another awaitable.
            send = sending if type(sending) is CoroutineType else _awaited(sending)
        else:
            send = websocket._send_data(_CALL, message)  # raises what the state says
        try:
            waiting_on = send.send(None)
        except StopIteration:
            return
        except BaseException as error:
            self._failed(error)
            return
        self._suspended = Suspended(send, waiting_on)
        self.sending_since = self.rooms._loop_time()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            waiter.set_result(None)

    def _failed(self, error: BaseException) -> None:
        if self.removed is not None and isinstance(error, Exception):
            return  # the send under way of a member already removed: nothing to report
        error = self.websocket._send_failure(error)  # the server's word: the client is gone?
        if isinstance(error, WebSocketDisconnect):
            self.rooms.remove(self, "the client is gone")
        elif isinstance(error, WebSocketStateError):
            self.rooms.remove(self, "the application closed the connection")
        elif isinstance(error, Exception):
            logger.error("room %r: a send failed; member removed", self.room, exc_info=error)
            self.rooms.remove(self, f"a send failed: {error!r}")
        else:
            raise error

    async def _send_queued(self) -> None:
        """The sender task: finish a send that waited, then send the queue, in order.

        Once the member is evicted, the send under way is left to finish (cancelling a
        send that waits on a full socket loses it on uvicorn, and wedges the
        connection on granian 2.8.7), and the close follows it.
        """
        try:
            await self._send_in_order()
            if self.evicted:
                await self._close_evicted()
        finally:
            suspended, self._suspended = self._suspended, None
            if suspended is not None:  # cancelled before it could go on: cancel it too
                suspended.coroutine.close()

    async def _send_in_order(self) -> None:
        queue = self.queue
        websocket = self.websocket
        loop = asyncio.get_running_loop()
        while self.removed is None:
            try:
                suspended = self._suspended
                if suspended is not None:
                    await suspended
                    self._suspended = None
                elif queue:
                    message = queue.popleft()
                    self.sending_since = loop.time()
                    await websocket._send_or_disconnect(message)
                else:
                    self._waiter = loop.create_future()
                    await self._waiter
                    continue
                self.sending_since = None
            except Exception as error:
                self._suspended = None
                self._failed(error)
                return

    async def _close_evicted(self) -> None:
        code, reason = EVICTION
        with contextlib.suppress(Exception):  # the client may be gone by now: done
            await self.websocket._close_on_behalf(code, reason)


async def _awaited(awaitable: Awaitable[None]) -> None:
    await awaitable


class Suspended:
    """A send that started in the publisher's task and waits: awaited, it goes on.

    The coroutine already yielded what it waits on (``waiting_on``); awaiting this
    object yields that to the awaiting task, then relays values and exceptions (a
    cancellation included) until the coroutine returns.
    """

    __slots__ = ("coroutine", "waiting_on")

    def __init__(self, coroutine: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self.coroutine = coroutine
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, Any, None]:
        coroutine, waiting_on = self.coroutine, self.waiting_on
        while True:
            try:
                value = yield waiting_on
            except BaseException as error:
                try:
                    waiting_on = coroutine.throw(error)
                except StopIteration:
                    return
            else:
                try:
                    waiting_on = coroutine.send(value)
                except StopIteration:
                    return


class Rooms:
    """Rooms of WebSockets over a pub/sub backend (in memory unless one is given).

    ``queue_size`` bounds each member's queue (in messages); ``send_timeout`` bounds one
    send to one member, in seconds.  Both are enforced by :data:`EVICTION`.  Connect in
    the app's lifespan (``on_startup=[rooms.connect]``); the in-memory backend also
    connects by itself on the first ``join()``.
    """

    def __init__(
        self,
        pubsub: PubSub | None = None,
        *,
        queue_size: int = 256,
        send_timeout: float = 10.0,
    ) -> None:
        if not isinstance(queue_size, int) or queue_size < 1:
            raise ValueError(f"queue_size must be a positive int, got {queue_size!r}")
        if not send_timeout > 0:
            raise ValueError(
                f"send_timeout must be a positive number of seconds, got {send_timeout!r}"
            )
        self.pubsub: PubSub = pubsub if pubsub is not None else MemoryPubSub()
        self.queue_size = queue_size
        self.send_timeout = float(send_timeout)
        self.connected = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._rooms: dict[str, dict[Member, None]] = {}
        self._subscribed: set[str] = set()
        # One lock per room being subscribed or unsubscribed, and how many wait on it.
        self._subscriptions: dict[str, tuple[asyncio.Lock, int]] = {}
        self._keys = itertools.count()
        self._watchdog: asyncio.Task[None] | None = None
        self._closing: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:
        return f"<Rooms: {len(self._rooms)} rooms over {type(self.pubsub).__name__}>"

    def _loop_time(self) -> float:
        return self._loop.time() if self._loop is not None else 0.0

    # -- lifespan ---------------------------------------------------------------------

    async def connect(self) -> None:
        """Connect the backend: ``PubSubUnavailable`` (naming the URL) if it cannot be reached."""
        loop = asyncio.get_running_loop()
        if self.connected:
            if self._loop is loop:
                return
            raise RuntimeError(
                "rooms.connect(): already connected in another event loop; "
                "call rooms.disconnect() there first"
            )
        await self.pubsub.connect(self._deliver)
        self.connected = True
        self._loop = loop
        self._subscriptions = {}

    async def _ready(self, call: str) -> None:
        """Connected in this event loop; the in-memory backend connects by itself."""
        if self.connected and self._loop is asyncio.get_running_loop():
            return
        if not isinstance(self.pubsub, MemoryPubSub):
            raise RuntimeError(
                f"{call} before rooms.connect(): connect {type(self.pubsub).__name__} in the "
                "app's lifespan, as in Yaat(on_startup=[rooms.connect], "
                "on_shutdown=[rooms.disconnect]); a server without lifespan (daphne) "
                "never runs it"
            )
        if self.connected:
            # Rooms left behind by an event loop that has ended (pytest runs a loop per
            # test): their tasks cannot run again, so forget them.
            self._forget()
        await self.connect()

    def _forget(self) -> list[asyncio.Task[None]]:
        """Drop every member and task; return the tasks, for the caller to cancel."""
        tasks = [m._task for members in self._rooms.values() for m in members]
        tasks += [self._watchdog, *self._closing]
        self.connected = False
        self._loop = None
        self._rooms.clear()
        self._subscribed.clear()
        self._closing.clear()
        self._watchdog = None
        return [t for t in tasks if t is not None]

    async def disconnect(self) -> None:
        """Stop every sender, and disconnect the backend.  Members are not closed: the
        server closes its connections as it shuts down."""
        if not self.connected:
            return
        tasks = self._forget()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.pubsub.disconnect()

    async def __aenter__(self) -> Rooms:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.disconnect()

    # -- membership -------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def join(
        self, room: str, websocket: WebSocket, *, presence: Any = None
    ) -> AsyncIterator[Member]:
        """Be a member of *room* inside the ``async with`` block; leave at its end.

        The WebSocket must be accepted.  Once ``join()`` has entered, every message
        published to the room (from this process or, through Redis, any other) reaches it,
        and :meth:`presence` lists *presence* (any JSON value, such as
        ``{"name": "ada"}``) for it, in every process.  Leaving drops what was queued
        for this member and not yet sent.  Joining a room this process already
        subscribed to never waits on the backend.
        """
        if not isinstance(room, str) or not room:
            raise ValueError(f"rooms.join(): the room must be a non-empty str, got {room!r}")
        if websocket.application_state is not WebSocketState.CONNECTED:
            raise WebSocketStateError("rooms.join()", websocket.application_state)
        _, described = encode_json("rooms.join(presence=...)", presence, "text")
        await self._ready("rooms.join()")
        member = Member(self, room, websocket, presence, str(next(self._keys)))
        self._rooms.setdefault(room, {})[member] = None
        self.pubsub.track(room, member.key, str(described))
        if self._watchdog is None:  # runs while there are members, and only then
            self._watchdog = asyncio.get_running_loop().create_task(self._watch())
        member._task = asyncio.get_running_loop().create_task(member._send_queued())
        try:
            await self._sync_subscription(room)
            yield member
        finally:
            self.remove(member, "left")
            task = member._task
            if task is not None and task is not asyncio.current_task():
                task.cancel()
                # Wait for the sender to stop, without swallowing our own cancellation.
                await asyncio.wait([task])

    def count(self, room: str) -> int:
        """How many members *room* has in this process."""
        return len(self._rooms.get(room, ()))

    async def presence(self, room: str) -> list[Any]:
        """What each member of *room* joined with (``join(..., presence=...)``), in
        every process sharing the backend: who is in the room now.

        >>> async def hello(websocket: WebSocket, room: str, name: str) -> None:
        ...     async with rooms.join(room, websocket, presence={"name": name}):
        ...         await websocket.send_json({"here": await rooms.presence(room)})

        In memory, it is this process's members.  With Redis, it reads the room's
        record (two commands, whatever the room's size); members of a process that
        died are left out once its heartbeat has expired.  ``PubSubUnavailable`` if
        the backend cannot be reached.
        """
        await self._ready("rooms.presence()")
        return [json.loads(data) for data in await self.pubsub.members(room)]

    def remove(self, member: Member, reason: str) -> None:
        """Take *member* out of its room (idempotent), dropping what was queued for it."""
        if member.removed is not None:
            return
        member.removed = reason
        member.queue.clear()
        members = self._rooms.get(member.room)
        if members is not None and member in members:
            members.pop(member)
            if self.connected:
                self.pubsub.untrack(member.room, member.key)
            if not members:
                del self._rooms[member.room]
                if self.connected and member.room in self._subscribed:
                    self._spawn(self._sync_subscription(member.room))
                if not self._rooms and self._watchdog is not None:
                    self._watchdog.cancel()
                    self._watchdog = None
        member._wake()  # an idle sender sees it has been removed, and ends

    def evict(self, member: Member, reason: str) -> None:
        """Apply :data:`EVICTION` to *member*: out of the room now; closed with 1013 by
        its sender task once the send under way returns (nobody waits for that)."""
        if member.removed is not None:
            return
        logger.warning("room %r: removing a member that fell behind: %s", member.room, reason)
        member.evicted = True
        self.remove(member, reason)
        if member.sending_since is not None:
            self._spawn(self._close_if_stuck(member))

    async def _close_if_stuck(self, member: Member) -> None:
        """Close an evicted member beside its send under way, if that send still waits
        after :data:`CLOSE_AFTER`: the peer may never read, and the close must not wait
        for it (a server bounds the close's flush: ``yaat run`` does)."""
        await asyncio.sleep(CLOSE_AFTER)
        if member.sending_since is not None:
            await member._close_evicted()

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _sync_subscription(self, room: str) -> None:
        """Subscribe the backend to *room* while it has members here, and only then.

        One subscription change at a time per room, so that concurrent joins and leaves
        of a room end in the right state, and every ``join()`` returns after the
        subscription is confirmed.  Rooms do not wait on each other, and a room already
        subscribed does not wait at all.
        """
        if room in self._subscribed and room in self._rooms:
            return
        lock, waiting = self._subscriptions.get(room) or (asyncio.Lock(), 0)
        self._subscriptions[room] = (lock, waiting + 1)
        try:
            async with lock:
                wanted = room in self._rooms and self.connected
                if wanted and room not in self._subscribed:
                    await self.pubsub.subscribe(room)
                    self._subscribed.add(room)
                elif not wanted and room in self._subscribed:
                    self._subscribed.discard(room)
                    await self.pubsub.unsubscribe(room)
        finally:
            lock, waiting = self._subscriptions.get(room, (lock, 1))
            if waiting == 1:
                self._subscriptions.pop(room, None)
            else:
                self._subscriptions[room] = (lock, waiting - 1)

    # -- publishing -------------------------------------------------------------------

    async def publish_text(self, room: str, data: str) -> None:
        """Send *data* as a text message to every member of *room*."""
        if not isinstance(data, str):
            raise TypeError(
                f"publish_text() takes a str, got {type(data).__name__}: "
                "use publish_bytes() for binary data or publish_json() for objects"
            )
        check_text("publish_text()", data)
        await self._publish(room, data)

    async def publish_bytes(self, room: str, data: bytes) -> None:
        """Send *data* as a binary message to every member of *room*."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(
                f"publish_bytes() takes bytes, got {type(data).__name__}: "
                "use publish_text() for text"
            )
        await self._publish(room, bytes(data))

    async def publish_json(self, room: str, data: Any, mode: JSONMode = "text") -> None:
        """Send *data* as JSON (encoded once, as ``WebSocket.send_json`` would)."""
        _, payload = encode_json(f"publish_json(mode={mode!r})", data, mode)
        await self._publish(room, payload)

    async def _publish(self, room: str, payload: Payload) -> None:
        await self._ready("rooms.publish")
        await self.pubsub.publish(room, payload)

    def _deliver(self, room: str, payload: Payload) -> None:
        """Called by the backend, once per payload per process: fan it out.

        One ASGI message for every member: servers only read what they are sent.
        """
        members = self._rooms.get(room)
        if members:
            key = "text" if type(payload) is str else "bytes"
            message = {"type": "websocket.send", key: payload}
            for member in tuple(members):
                member.offer(message)

    # -- send timeout -----------------------------------------------------------------

    async def _watch(self) -> None:
        """Evict members whose send has waited ``send_timeout``: one timer for all of them.

        A member is evicted between ``send_timeout`` and 1.25 x ``send_timeout`` after
        its send started; a timer per send would cost every delivery.
        """
        loop = asyncio.get_running_loop()
        timeout = self.send_timeout
        while True:
            await asyncio.sleep(timeout / 4)
            deadline = loop.time() - timeout
            for members in tuple(self._rooms.values()):
                for member in tuple(members):
                    since = member.sending_since
                    if since is not None and since <= deadline:
                        self.evict(member, f"a send waited more than {timeout:g} s")
