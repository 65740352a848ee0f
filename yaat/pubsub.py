"""Where a room's messages travel: within this process, or through Redis to every process.

>>> pubsub = MemoryPubSub()               # the default of Rooms: nothing to set up
>>> pubsub = RedisPubSub("redis://127.0.0.1:6379/0")  # doctest: +SKIP

A :class:`PubSub` takes payloads (``str`` or ``bytes``, already encoded) published to a
room and hands each one, once per process, to the ``deliver`` callback it was connected
with; ``yaat.rooms.Rooms`` fans it out from there.  Pub/sub is at-most-once: a payload
published while a process cannot be reached is lost for that process.

It also keeps presence: who is in each room, in every process that shares it
(``track()``, ``untrack()``, ``members()``).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import hashlib
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from yaat.redis_connection import BatchedConnection

logger = logging.getLogger("yaat.pubsub")

Payload = str | bytes
Deliver = Callable[[str, Payload], None]

#: Publish ARGV[2] to KEYS[1] unless Redis's clock is past ARGV[1] (milliseconds):
#: -1 then.  A message reported failed is refused by a Redis that resumes later.
PUBLISH_BEFORE_DEADLINE = b"""
local now = redis.call('TIME')
if tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) > tonumber(ARGV[1]) then
  return -1
end
return redis.call('PUBLISH', KEYS[1], ARGV[2])
"""


class PubSubUnavailable(ConnectionError):
    """The backend cannot be reached: the message was not published, and no member
    receives it after this is raised.

    ``sent`` says whether it had been written to the backend.  When not, nobody ever
    receives it.  When it had (Redis stopped answering as it was in flight), Redis
    refuses it past its deadline (``RedisPubSub``), so a Redis that resumes does not
    deliver it later; only if Redis ran it in the instant before it stopped answering
    may members have received it before this was raised.
    """

    def __init__(self, message: str, *, sent: bool = False) -> None:
        super().__init__(message)
        self.sent = sent


class PubSub(abc.ABC):
    """A transport for room messages between the processes that serve a room, and the
    record of who is in each room.

    Presence is kept in this process by default (``MemoryPubSub``); a backend shared by
    several processes overrides ``track()``, ``untrack()`` and ``members()``.
    """

    async def connect(self, deliver: Deliver) -> None:
        """Start; every payload published to a subscribed room goes to *deliver*."""
        self._deliver = deliver
        self._present = {}

    async def disconnect(self) -> None:
        """Stop, and release what was taken.  Nothing by default."""
        return None

    @abc.abstractmethod
    async def publish(self, room: str, payload: Payload) -> None:
        """Send *payload* to every process subscribed to *room*, this one included."""

    async def subscribe(self, room: str) -> None:
        """Receive *room*'s payloads from now on.  Nothing by default."""
        return None

    async def unsubscribe(self, room: str) -> None:
        """Stop receiving *room*'s payloads.  Nothing by default."""
        return None

    def track(self, room: str, member: str, data: str) -> None:
        """Record *member* (a key unique in this process) in *room*, described by *data*
        (JSON text).  It returns at once: a backend writes it in the background."""
        self._present.setdefault(room, {})[member] = data

    def untrack(self, room: str, member: str) -> None:
        """Forget *member* of *room*."""
        present = self._present.get(room)
        if present is not None:
            present.pop(member, None)
            if not present:
                del self._present[room]

    async def members(self, room: str) -> list[str]:
        """The *data* of every member of *room*, in every process sharing this backend."""
        return list(self._present.get(room, {}).values())

    _deliver: Deliver
    #: This process's members by room, ``{room: {member: data}}``: set by ``connect()``,
    #: which a subclass's ``connect()`` calls.
    _present: dict[str, dict[str, str]]


class MemoryPubSub(PubSub):
    """One process: a payload is delivered at once, in the order it was published."""

    async def publish(self, room: str, payload: Payload) -> None:
        self._deliver(room, payload)
        # Let the members' senders run before the next publish: a burst from one task
        # would otherwise fill every queue, fast readers' too.
        await asyncio.sleep(0)


class RedisPubSub(PubSub):
    """Redis pub/sub (the ``redis`` package's asyncio client): rooms across processes.

    ``url`` is a Redis URL such as ``redis://127.0.0.1:6379/0``.  ``connect()`` fails
    with :class:`PubSubUnavailable`, naming the URL, when Redis cannot be reached.

    Two connections: one subscribed (the listener), one for every other command,
    written in batches (``yaat.redis_connection``), so a thousand publishes in flight
    take one connection, not a thousand.  If Redis goes away or stops answering,
    ``publish()`` raises :class:`PubSubUnavailable` within ``timeout`` seconds, and no
    member receives that message afterwards: it was never sent, or it carries a
    deadline past which Redis refuses it (a paused Redis that resumes).  Nothing is
    retried.  Members stay connected, and the listener reconnects and subscribes again
    by itself, every ``retry`` seconds; a silent listener is checked with a PING every
    ``timeout`` seconds.  The outage is logged once (WARNING), and so is the recovery
    (INFO).

    Presence: each member is a field of the room's hash ``<key_prefix>presence:<room>``,
    named after its process, and each process refreshes ``<key_prefix>process:<id>``
    every ``heartbeat`` seconds, expiring after three.  ``members()`` leaves out (and
    deletes) the members of processes whose key has expired: a process that died is
    forgotten within ``3 * heartbeat`` seconds.
    """

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = "yaat:rooms:",
        key_prefix: str = "yaat:",
        timeout: float = 2.0,
        retry: float = 1.0,
        heartbeat: float = 5.0,
    ) -> None:
        self.url = url
        self.channel_prefix = channel_prefix
        self.key_prefix = key_prefix
        self.timeout = timeout
        self.retry = retry
        self.heartbeat = heartbeat
        #: This process's name in presence keys.
        self.process_id = uuid.uuid4().hex[:16]
        self._script_sha = hashlib.sha1(PUBLISH_BEFORE_DEADLINE).hexdigest()
        self._client: Any = None
        self._pubsub: Any = None
        self._commands: BatchedConnection | None = None
        self._deadline: Any = None  # yaat.redis_connection.DEADLINE, once connected
        self._tasks: list[asyncio.Task[None]] = []
        self._rooms: set[str] = set()
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._down: set[str] = set()
        self._down_since = 0.0
        self._stopping = False
        #: Whether the listener is connected now (False while Redis is away).
        self.listening = False

    def _channel(self, room: str) -> str:
        return self.channel_prefix + room

    def _presence_key(self, room: str) -> str:
        return f"{self.key_prefix}presence:{room}"

    def _process_key(self, process: str) -> str:
        return f"{self.key_prefix}process:{process}"

    async def connect(self, deliver: Deliver) -> None:
        try:
            import redis.asyncio as redis
        except ImportError as exc:  # pragma: no cover - the extra says so
            raise RuntimeError("RedisPubSub needs redis: pip install 'yaat[redis]'") from exc
        from yaat.redis_connection import DEADLINE, BatchedConnection

        await super().connect(deliver)
        self._stopping = False
        self._client = redis.from_url(
            self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        try:
            await self._client.ping()
        except Exception as exc:
            await self._client.aclose()
            raise PubSubUnavailable(f"cannot reach Redis at {self.url}: {exc}") from exc
        self._commands = BatchedConnection(
            self.url,
            timeout=self.timeout,
            on_connect=self._restore,
            health=lambda healthy, why: self._health("publishing", healthy, why),
        )
        self._commands.start()
        self._deadline = DEADLINE
        self._pubsub = self._client.pubsub()
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._beat())]

    async def disconnect(self) -> None:
        self._stopping = True  # as well as cancelled: redis-py's timeouts can lose that
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a cancellation can be lost in asyncio.wait_for (Python < 3.12)
            await asyncio.wait(tasks, timeout=self.timeout)
        if self._commands is not None:
            # Leave presence now; if Redis does not answer, the heartbeat key expires.
            for room, members in self._present.items():
                fields = [f"{self.process_id}:{member}" for member in members]
                self._commands.send(b"HDEL", self._presence_key(room), *fields)
            with contextlib.suppress(PubSubUnavailable):
                await self._commands.call(b"DEL", self._process_key(self.process_id))
            await self._commands.stop()
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()

    def _connection(self) -> BatchedConnection:
        if self._commands is None:
            raise PubSubUnavailable(f"RedisPubSub({self.url!r}) is not connected")
        return self._commands

    async def publish(self, room: str, payload: Payload) -> None:
        """Publish, or raise :class:`PubSubUnavailable` within ``timeout`` seconds.

        The message carries a deadline on Redis's clock, set as it is written
        (``yaat.redis_connection.DEADLINE``), and Redis publishes it only before that
        deadline: what is reported failed is not delivered later, even by a Redis that
        was paused and resumes.
        """
        data = (b"t" + payload.encode("utf-8")) if isinstance(payload, str) else b"b" + payload
        channel = self._channel(room)
        try:
            published = await self._connection().call(
                b"EVALSHA", self._script_sha, 1, channel, self._deadline, data
            )
        except PubSubUnavailable as exc:
            sent = exc.sent
            why = f"{exc}; Redis refuses it past its deadline" if sent else str(exc)
            raise PubSubUnavailable(f"cannot publish to room {room!r}: {why}", sent=sent) from None
        if published == -1:
            raise PubSubUnavailable(
                f"cannot publish to room {room!r}: Redis at {self.url} ran it after its "
                f"deadline ({0.9 * self.timeout:g} s after it was sent): not published",
                sent=True,
            )

    async def subscribe(self, room: str) -> None:
        """Subscribe, and return once Redis confirms it: a publish after this arrives.

        While the listener knows Redis is away, return at once: it subscribes again to
        every room when Redis is back.
        """
        if room in self._rooms:
            return
        self._rooms.add(room)
        if "listening" in self._down:
            return
        confirmed = self._confirmed[room] = asyncio.get_running_loop().create_future()
        try:
            await asyncio.wait_for(self._pubsub.subscribe(self._channel(room)), self.timeout)
            await asyncio.wait_for(asyncio.shield(confirmed), self.timeout)
        except Exception as exc:
            # Redis is away: the listener subscribes again when it is back.
            logger.warning("room %r: not subscribed yet (%s); retrying with Redis", room, exc)
        finally:
            self._confirmed.pop(room, None)

    async def unsubscribe(self, room: str) -> None:
        self._rooms.discard(room)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._pubsub.unsubscribe(self._channel(room)), self.timeout)

    # -- presence -------------------------------------------------------------------------

    def track(self, room: str, member: str, data: str) -> None:
        super().track(room, member, data)
        field = f"{self.process_id}:{member}"
        self._connection().send(b"HSET", self._presence_key(room), field, data)

    def untrack(self, room: str, member: str) -> None:
        super().untrack(room, member)
        field = f"{self.process_id}:{member}"
        self._connection().send(b"HDEL", self._presence_key(room), field)

    async def members(self, room: str) -> list[str]:
        """Every process's members of *room*: this one's as it knows them, the others'
        from Redis, less those of processes that died."""
        commands = self._connection()
        key = self._presence_key(room)
        reply = await commands.call(b"HGETALL", key)
        # A map (RESP3, or a parser that pairs it) or a flat list of fields and values.
        pairs = (
            reply.items() if isinstance(reply, dict) else zip(reply[::2], reply[1::2], strict=True)
        )
        others: dict[str, list[tuple[bytes, bytes]]] = {}
        for field, data in pairs:
            process = field.split(b":", 1)[0].decode("ascii", "replace")
            if process != self.process_id:
                others.setdefault(process, []).append((field, data))
        present = list(self._present.get(room, {}).values())
        if others:
            names = list(others)
            alive = await commands.call(b"MGET", *map(self._process_key, names))
            dead: list[bytes] = []
            for process, beat in zip(names, alive, strict=True):
                entries = others[process]
                if beat is None:
                    dead += [field for field, _ in entries]
                else:
                    present += [data.decode("utf-8") for _, data in entries]
            if dead:
                commands.send(b"HDEL", key, *dead)
        return present

    def _restore(self) -> Iterable[tuple[bytes | str | int, ...]]:
        """What Redis must hold for this process: the publishing script, its heartbeat
        and its members.  Written first on every new connection (Redis may have
        restarted empty)."""
        yield (b"SCRIPT", b"LOAD", PUBLISH_BEFORE_DEADLINE)
        ttl = str(int(self.heartbeat * 3000))
        yield (b"SET", self._process_key(self.process_id), b"1", b"PX", ttl)
        for room, members in self._present.items():
            pairs = [
                part
                for member, data in members.items()
                for part in (f"{self.process_id}:{member}", data)
            ]
            yield (b"HSET", self._presence_key(room), *pairs)

    async def _beat(self) -> None:
        """Refresh this process's key; if it had expired (the process stalled), others
        may have deleted its members: write them again."""
        commands = self._connection()
        ttl = str(int(self.heartbeat * 3000))
        while not self._stopping:
            await asyncio.sleep(self.heartbeat)
            key = self._process_key(self.process_id)
            try:
                previous = await commands.call(b"SET", key, b"1", b"PX", ttl, b"GET")
            except PubSubUnavailable:
                continue
            except Exception as exc:  # pragma: no cover - a Redis before 6.2
                logger.warning("presence heartbeat failed: %s", exc)
                continue
            if previous is None:
                for command in list(self._restore())[1:]:
                    commands.send(*command)

    # -- health ---------------------------------------------------------------------------

    def _health(self, part: str, healthy: bool, why: str) -> None:
        """One line when Redis goes away (WARNING), one when it is back (INFO)."""
        loop = asyncio.get_running_loop()
        if healthy:
            if part in self._down:
                self._down.discard(part)
                if not self._down:
                    took = loop.time() - self._down_since
                    logger.info("Redis at %s is back after %.1f s", self.url, took)
        elif part not in self._down:
            if not self._down:
                self._down_since = loop.time()
                logger.warning(
                    "Redis at %s went away (%s): publishing fails and other processes' "
                    "messages are not heard until it is back; retrying every %g s",
                    self.url,
                    why,
                    self.retry,
                )
            self._down.add(part)

    # -- the listener ---------------------------------------------------------------------

    async def _listen(self) -> None:
        """Read pub/sub messages for ever; after a failure, reconnect and resubscribe.

        A silence of ``timeout`` seconds is answered with a PING, and a PING left
        unanswered for as long means the connection is dead (a paused Redis, a
        partition): it is replaced.
        """
        pinged = False
        while not self._stopping:
            try:
                if self._rooms and not self._pubsub.subscribed:
                    channels = [self._channel(room) for room in self._rooms]
                    await self._pubsub.subscribe(*channels)
                    pinged = False
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)  # nothing to read until a room is joined
                    continue
                message = await self._pubsub.get_message(timeout=self.timeout)
                if message is None:
                    if pinged:
                        raise TimeoutError(f"no answer to a PING within {self.timeout:g} s")
                    await self._pubsub.ping()
                    pinged = True
                    continue
                pinged = False
                if not self.listening:
                    self.listening = True
                    self._health("listening", True, "")
                self._handle(message)
                # Buffered messages are read without suspending: let the members'
                # senders, and every other task, run between two deliveries.
                await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.listening = False
                self._health("listening", False, f"{type(exc).__name__}: {exc}")
                await self._reconnect()

    async def _reconnect(self) -> None:
        """Wait, then a new pub/sub connection that subscribes to every room again."""
        await asyncio.sleep(self.retry)
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        self._pubsub = self._client.pubsub()

    def _handle(self, message: dict[str, Any]) -> None:
        # Only this object's own channels arrive here: its connection subscribed to them.
        kind = message.get("type")
        if kind == "pong":
            return
        channel: bytes = message["channel"]
        room = channel.decode("utf-8", "replace")[len(self.channel_prefix) :]
        if kind == "subscribe":
            confirmed = self._confirmed.get(room)
            if confirmed is not None and not confirmed.done():
                confirmed.set_result(None)
            return
        if kind != "message":
            return
        data: bytes = message["data"]
        payload: Payload = data[1:].decode("utf-8") if data[:1] == b"t" else data[1:]
        self._deliver(room, payload)
