"""One Redis connection for many commands: batched, in order, and definite about failures.

>>> connection = BatchedConnection("redis://127.0.0.1:6379/0", timeout=2.0)  # doctest: +SKIP
>>> await connection.call(b"PUBLISH", b"yaat:rooms:lobby", b"thello")  # doctest: +SKIP

``RedisPubSub`` publishes (and keeps presence) through one of these, never through a
pool: a thousand publishes in flight are a few batches on one connection, not a
thousand connections (redis-py's pool holds 100 by default, and refuses more).

Commands queue; while no batch is in flight, everything queued is written at once and
the replies are read in order.  A failure raises :class:`~yaat.pubsub.PubSubUnavailable`
within ``timeout`` seconds, and its ``sent`` says whether the command was written:

- ``sent=False``: the connection was down, or Redis did not answer while the command
  waited its turn: it was **never written**, so Redis never runs it.  Before writing
  again after a failure, the connection is opened afresh and must answer a PING, so
  nothing is written to a Redis that does not answer.
- ``sent=True``: the command was written and its reply did not come in time.  Redis
  may still run it: a paused Redis (SIGSTOP, a partition that heals) runs what it had
  received when it resumes.  Only the batch in flight when Redis stopped answering
  ends this way; a command that must not run late says so itself (``RedisPubSub``'s
  publish carries a deadline that Redis checks).

Nothing is retried: a retry could run a command twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from yaat.pubsub import PubSubUnavailable

#: The most commands written in one batch.
BATCH = 1000
#: Called with ``(True, "")`` when the connection works again, ``(False, why)`` when not.
Health = Callable[[bool, str], None]


class Command:
    """One command, its future reply, and whether it has been written."""

    __slots__ = ("args", "future", "written")

    def __init__(self, args: tuple[bytes | str | int, ...], future: asyncio.Future[Any]) -> None:
        self.args = args
        self.future = future
        self.written = False


class BatchedConnection:
    """A connection to Redis at *url*, written in batches by one task (see the module).

    ``on_connect`` returns the commands to write first on every new connection (state
    that Redis may have lost while away), and ``on_connected`` gets their replies;
    ``health`` hears of the connection's state.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        on_connect: Callable[[], Iterable[tuple[bytes | str | int, ...]]] = tuple,
        on_connected: Callable[[list[Any]], None] | None = None,
        health: Health | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.on_connect = on_connect
        self.on_connected = on_connected
        self.health = health
        self._queue: deque[Command] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._pool: Any = None
        self._stopping = False

    def start(self) -> None:
        """Start the writing task (in the running loop)."""
        import redis.asyncio as redis

        self._pool = redis.ConnectionPool.from_url(
            self.url, socket_timeout=self.timeout, socket_connect_timeout=self.timeout
        )
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._write_batches())

    async def stop(self) -> None:
        """Stop writing; what is still queued fails as never sent."""
        task, self._task = self._task, None
        if task is not None:
            # Both: a cancellation can be lost in asyncio.wait_for (Python < 3.12).
            self._stopping = True
            if self._wake is not None:
                self._wake.set()
            task.cancel()
            await asyncio.wait([task])
        self._fail_queued("the connection to Redis was closed")
        await self._drop()
        if self._pool is not None:
            await self._pool.aclose()

    def submit(self, *args: bytes | str | int) -> asyncio.Future[Any]:
        """Queue a command; its reply (or failure) comes in the future returned."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._task is None:
            future.set_exception(
                PubSubUnavailable("not connected to Redis: connect first")
            )  # pragma: no cover
            return future
        self._queue.append(Command(args, future))
        if self._wake is not None:
            self._wake.set()
        return future

    async def call(self, *args: bytes | str | int) -> Any:
        """Run a command and return its reply."""
        return await self.submit(*args)

    def send(self, *args: bytes | str | int) -> None:
        """Queue a command and wait for nothing: its failure is nobody's to hear."""
        self.submit(*args).add_done_callback(_ignore)

    # -- the writing task ---------------------------------------------------------------

    async def _write_batches(self) -> None:
        assert self._wake is not None
        while not self._stopping:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            if self._connection is not None and not await self._still_open():
                await self._drop()  # closed by Redis while idle: nothing was written to it
            if self._connection is None and not await self._reconnect():
                continue
            batch = self._take_batch()
            try:
                await self._run(batch)
            except Exception as error:  # pragma: no cover - a bug: fail its callers, go on
                for command in batch:
                    _settle(command.future, error=error)
                await self._drop()

    def _take_batch(self) -> list[Command]:
        batch: list[Command] = []
        queue = self._queue
        while queue and len(batch) < BATCH:
            command = queue.popleft()
            if not command.future.done():  # its caller may have given up
                batch.append(command)
        return batch

    async def _reconnect(self) -> bool:
        """A new connection that answers a PING, with the on_connect commands run."""
        import redis.asyncio as redis

        connection = self._pool.make_connection()
        try:
            replies = await asyncio.wait_for(self._open(connection), self.timeout)
        except (OSError, asyncio.TimeoutError, redis.RedisError) as error:
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
            why = _describe(error, self.timeout)
            self._fail_queued(f"Redis at {self.url} cannot be reached ({why})")
            self._report(False, why)
            return False
        self._connection = connection
        if self.on_connected is not None:
            self.on_connected(replies[1:])
        self._report(True, "")
        return True

    async def _open(self, connection: Any) -> list[Any]:
        await connection.connect()
        first = [("PING",), *self.on_connect()]
        await connection.send_packed_command(connection.pack_commands(first), check_health=False)
        return [await self._reply(connection) for _ in first]

    @staticmethod
    async def _reply(connection: Any) -> Any:
        """The next reply; an error reply (a ``ResponseError``) is returned, not raised:
        it is that command's own."""
        import redis.asyncio as redis

        try:
            return await connection.read_response(timeout=math.inf)
        except redis.ResponseError as error:
            return error

    async def _still_open(self) -> bool:
        """Whether the idle connection is still open, with nothing unasked to read."""
        import redis.asyncio as redis

        try:
            return not await self._connection.can_read()
        except (OSError, redis.RedisError):
            return False

    async def _run(self, batch: list[Command]) -> None:
        import redis.asyncio as redis

        try:
            await asyncio.wait_for(self._exchange(batch), self.timeout)
        except (OSError, asyncio.TimeoutError, redis.RedisError) as error:
            why = _describe(error, self.timeout)
            for command in batch:
                _settle(
                    command.future,
                    error=PubSubUnavailable(
                        f"Redis at {self.url} failed while the command was in flight ({why})",
                        sent=True,
                    ),
                )
            # Never write to this connection again: what it holds stays what it was.
            await self._drop()
            self._fail_queued(f"Redis at {self.url} stopped answering ({why})")
            self._report(False, why)

    async def _exchange(self, batch: list[Command]) -> None:
        """Write the batch, then settle each command with its reply, in order."""
        import redis.asyncio as redis

        connection = self._connection
        packed = connection.pack_commands([command.args for command in batch])
        for command in batch:
            command.written = True
        await connection.send_packed_command(packed, check_health=False)
        for command in batch:
            reply = await self._reply(connection)
            if isinstance(reply, redis.ResponseError):
                _settle(command.future, error=reply)
            else:
                _settle(command.future, reply)

    async def _drop(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)

    def _fail_queued(self, why: str) -> None:
        """Fail every command still queued: none was written, so none will ever run."""
        queue = self._queue
        while queue:
            command = queue.popleft()
            _settle(command.future, error=PubSubUnavailable(f"{why}: not sent", sent=False))

    def _report(self, healthy: bool, why: str) -> None:
        if self.health is not None:
            self.health(healthy, why)


def _settle(
    future: asyncio.Future[Any], value: Any = None, *, error: BaseException | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)


def _ignore(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


def _describe(error: BaseException, timeout: float) -> str:
    if isinstance(error, asyncio.TimeoutError) and not str(error):
        return f"no answer within {timeout:g} s"
    return f"{type(error).__name__}: {error}"
