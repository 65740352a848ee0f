"""Where a room's messages travel: within this process, or through Redis to every process.

>>> pubsub = MemoryPubSub()               # the default of Rooms: nothing to set up
>>> pubsub = RedisPubSub("redis://127.0.0.1:6379/0")  # doctest: +SKIP

A :class:`PubSub` takes payloads (``str`` or ``bytes``, already encoded) published to a
room and hands each one, once per process, to the ``deliver`` callback it was connected
with; ``yaat.rooms.Rooms`` fans it out from there.  Pub/sub is at-most-once: a payload
published while a process cannot be reached is lost for that process.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger("yaat.pubsub")

Payload = str | bytes
Deliver = Callable[[str, Payload], None]


class PubSubUnavailable(ConnectionError):
    """The pub/sub backend cannot be reached: the message was not published."""


class PubSub(abc.ABC):
    """A transport for room messages between the processes that serve a room."""

    async def connect(self, deliver: Deliver) -> None:
        """Start; every payload published to a subscribed room goes to *deliver*."""
        self._deliver = deliver

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

    _deliver: Deliver


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
    with :class:`PubSubUnavailable`, naming the URL, when Redis cannot be reached.  If
    Redis goes away later, ``publish()`` raises :class:`PubSubUnavailable` within
    ``timeout`` seconds (the message is lost), members stay connected, and the listener
    reconnects and subscribes again by itself, retrying every ``retry`` seconds at most.
    """

    def __init__(
        self,
        url: str,
        *,
        channel_prefix: str = "yaat:rooms:",
        timeout: float = 2.0,
        retry: float = 1.0,
    ) -> None:
        self.url = url
        self.channel_prefix = channel_prefix
        self.timeout = timeout
        self.retry = retry
        self._client: Any = None
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._unavailable: tuple[type[BaseException], ...] = ()
        self._rooms: set[str] = set()
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        #: Whether the listener is connected now (False while Redis is away).
        self.listening = False

    def _channel(self, room: str) -> str:
        return self.channel_prefix + room

    async def connect(self, deliver: Deliver) -> None:
        try:
            import redis.asyncio as redis
        except ImportError as exc:  # pragma: no cover - the extra says so
            raise RuntimeError("RedisPubSub needs redis: pip install 'yaat[redis]'") from exc
        await super().connect(deliver)
        # What a publish raises when Redis is away: the socket's errors and redis-py's.
        self._unavailable = (OSError, TimeoutError, redis.RedisError)
        self._client = redis.from_url(
            self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        try:
            await self._client.ping()
        except Exception as exc:
            await self._client.aclose()
            raise PubSubUnavailable(f"cannot reach Redis at {self.url}: {exc}") from exc
        self._pubsub = self._client.pubsub()
        self._listener = asyncio.get_running_loop().create_task(self._listen())

    async def disconnect(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.aclose()

    async def publish(self, room: str, payload: Payload) -> None:
        data = (b"t" + payload.encode("utf-8")) if isinstance(payload, str) else b"b" + payload
        try:
            await asyncio.wait_for(self._client.publish(self._channel(room), data), self.timeout)
        except self._unavailable as exc:
            raise PubSubUnavailable(
                f"cannot publish to room {room!r}: Redis at {self.url} is unreachable "
                f"({type(exc).__name__}: {exc}); pub/sub is at-most-once, so this message "
                "is lost"
            ) from exc

    async def subscribe(self, room: str) -> None:
        """Subscribe, and return once Redis confirms it: a publish after this arrives."""
        if room in self._rooms:
            return
        self._rooms.add(room)
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

    async def _listen(self) -> None:
        """Read pub/sub messages for ever; after a failure, reconnect and resubscribe."""
        while True:
            try:
                if self._rooms and not self._pubsub.subscribed:
                    channels = [self._channel(room) for room in self._rooms]
                    await self._pubsub.subscribe(*channels)
                if not self._pubsub.subscribed:
                    await asyncio.sleep(0.05)  # nothing to read until a room is joined
                    continue
                message = await self._pubsub.get_message(timeout=self.timeout)
                if not self.listening:
                    self.listening = True
                    logger.info("listening to Redis at %s", self.url)
                if message is not None:
                    self._handle(message)
                    # Buffered messages are read without suspending: let the members'
                    # senders, and every other task, run between two deliveries.
                    await asyncio.sleep(0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.listening:
                    logger.warning("Redis at %s went away (%s): reconnecting", self.url, exc)
                self.listening = False
                await self._reconnect()

    async def _reconnect(self) -> None:
        """Wait, then a new pub/sub connection that subscribes to every room again."""
        await asyncio.sleep(self.retry)
        with contextlib.suppress(Exception):
            await self._pubsub.aclose()
        self._pubsub = self._client.pubsub()

    def _handle(self, message: dict[str, Any]) -> None:
        # Only this object's own channels arrive here: its connection subscribed to them.
        channel: bytes = message["channel"]
        room = channel.decode("utf-8", "replace")[len(self.channel_prefix) :]
        kind = message.get("type")
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
