"""One Redis connection for many commands: batched, in order, and definite about failures.

>>> connection = BatchedConnection("redis://127.0.0.1:6379/0", timeout=2.0)  # doctest: +SKIP
>>> await connection.call(b"PUBLISH", b"yaat:rooms:lobby", b"thello")  # doctest: +SKIP

``RedisPubSub`` publishes (and keeps presence) through one of these, never through a
pool: a thousand publishes in flight are a few batches on one connection, not a
thousand connections (redis-py's pool holds 100 by default, and refuses more).

Commands queue; while no batch is in flight, everything queued is written at once and
the replies are read in order.  A failure raises :class:`~yaat.pubsub.PubSubUnavailable`
within ``timeout`` seconds of Redis falling silent (a reply that does not come, a
connection that cannot be opened), and its ``sent`` says whether the command was
written:

- ``sent=False``: the connection was down, or Redis did not answer while the command
  waited its turn: it was **never written**, so Redis never runs it.  Before writing
  again after a failure, the connection is opened afresh and must answer (a TIME, for
  its clock), so nothing is written to a Redis that does not answer.
- ``sent=True``: the command was written and its reply did not come in time.  Redis
  may still run it: a paused Redis (SIGSTOP, a partition that heals) runs what it had
  received when it resumes.  Only the batch in flight when Redis stopped answering
  ends this way.  A command that must not run late carries :data:`DEADLINE` among its
  arguments: it is written as a time on Redis's clock, ``0.9 * timeout`` seconds after
  the batch is written, for the command itself to check (``RedisPubSub``'s publish
  does).  Its failure is reported after that time, so a Redis that resumes refuses it.

Nothing is retried: a retry could run a command twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from yaat.pubsub import PubSubUnavailable

#: The most commands written in one batch.
BATCH = 1000


class Deadline:
    """The argument that becomes a deadline on Redis's clock, in milliseconds, when the
    command is written (see the module)."""

    def __repr__(self) -> str:
        return "DEADLINE"


DEADLINE = Deadline()
#: Called with ``(True, "")`` when the connection works again, ``(False, why)`` when not.
Health = Callable[[bool, str], None]
Argument = bytes | str | int | Deadline


class Command:
    """One command, and its future reply."""

    __slots__ = ("args", "future")

    def __init__(self, args: tuple[Argument, ...], future: asyncio.Future[Any]) -> None:
        self.args = args
        self.future = future


class BatchedConnection:
    """A connection to Redis at *url*, written in batches by one task (see the module).

    ``on_connect`` returns the commands to write first on every new connection (state
    that Redis may have lost while away); ``health`` hears of the connection's state.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float,
        on_connect: Callable[[], Iterable[tuple[Argument, ...]]] = tuple,
        health: Health | None = None,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.on_connect = on_connect
        self.health = health
        self._queue: deque[Command] = deque()
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._connection: Any = None
        self._pool: Any = None
        self._stopping = False
        #: Redis's clock less this process's, in seconds: read at every connection.
        self.clock_offset = 0.0

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

    def submit(self, *args: Argument) -> asyncio.Future[Any]:
        """Queue a command; its reply (or failure) comes in the future returned."""
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self._task is None:  # pragma: no cover - RedisPubSub never submits then
            future.set_exception(PubSubUnavailable("not connected to Redis: connect first"))
            return future
        self._queue.append(Command(args, future))
        if self._wake is not None:
            self._wake.set()
        return future

    async def call(self, *args: Argument) -> Any:
        """Run a command and return its reply."""
        return await self.submit(*args)

    def send(self, *args: Argument) -> None:
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
        """A new connection that answers (Redis's clock), with the on_connect commands run."""
        import redis.asyncio as redis

        connection = self._pool.make_connection()
        try:
            await asyncio.wait_for(self._open(connection), self.timeout)
        except (OSError, asyncio.TimeoutError, redis.RedisError) as error:
            with contextlib.suppress(Exception):
                await connection.disconnect(nowait=True)
            why = _describe(error, self.timeout)
            self._fail_queued(f"Redis at {self.url} cannot be reached ({why})")
            self._report(False, why)
            return False
        self._connection = connection
        self._report(True, "")
        return True

    async def _open(self, connection: Any) -> None:
        await connection.connect()
        first = [("TIME",), *self.on_connect()]
        await connection.send_packed_command(connection.pack_commands(first), check_health=False)
        replies = [await self._reply(connection) for _ in first]
        seconds, microseconds = replies[0]
        self.clock_offset = int(seconds) + int(microseconds) / 1e6 - time.time()

    async def _reply(self, connection: Any) -> Any:
        """The next reply, within ``timeout``; an error reply (a ``ResponseError``) is
        returned, not raised: it is that command's own."""
        import redis.asyncio as redis

        try:
            # The connection's socket_timeout: a read that times out raises (with an
            # explicit timeout, redis-py would return None).
            return await connection.read_response()
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
            # Each read waits at most `timeout`: a long batch from a Redis that answers
            # all along is no failure, and a reply that does not come is one.
            await self._exchange(batch)
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
        deadline = int((time.time() + self.clock_offset + self.timeout * 0.9) * 1000)
        packed = connection.pack_commands(
            [[deadline if arg is DEADLINE else arg for arg in command.args] for command in batch]
        )
        await asyncio.wait_for(
            connection.send_packed_command(packed, check_health=False), self.timeout
        )
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
