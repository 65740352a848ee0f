"""A one-way message channel between the app and the test, in one event loop.

>>> import asyncio
>>> async def demo():
...     channel = Channel(asyncio.get_running_loop())
...     channel.put("hello")
...     return await channel.get(deadline=None)
>>> asyncio.run(demo())
'hello'

No ``asyncio.Queue`` and no ``wait_for``: a put appends and wakes the waiters (the first
takes the item, the others look again), and a get takes from the deque without
suspending when a message is there already.
Timeouts cost one timer per *timeout period*, not one per wait, and channels that share
an :class:`Alarm` (all the sessions of a transport) share that timer: it is armed for the
earliest deadline and, when it fires early for a later one, re-armed.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Generator
from typing import Any

from yaat_testing.loops import Future, Loop, Timer

_PRUNE_AT = 16  # waiters a channel holds before it drops the cancelled ones


class _LoopStopper:
    """A waiter that stops the loop it is woken in, in that very turn."""

    __slots__ = ("_done", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._done = False

    def done(self) -> bool:
        return self._done

    def set_result(self, result: None, /) -> None:
        self._done = True
        self._loop.stop()

    def __await__(self) -> Generator[None, None, None]:  # a Future, but never awaited
        raise TypeError("a _LoopStopper stops a loop run by hand; it cannot be awaited")
        yield  # pragma: no cover


class ChannelTimeout(Exception):
    """A :meth:`Channel.get` reached its deadline with nothing to take."""


class Alarm:
    """One timer for the deadlines of many channels.

    >>> import asyncio
    >>> async def demo():
    ...     loop = asyncio.get_running_loop()
    ...     alarm = Alarm(loop)
    ...     first, second = Channel(loop, alarm), Channel(loop, alarm)
    ...     try:
    ...         await first.get(deadline=loop.time() + 0.01)
    ...     except ChannelTimeout:
    ...         return alarm.timer is None  # nothing else waits: nothing armed
    >>> asyncio.run(demo())
    True
    """

    __slots__ = ("channels", "loop", "timer")

    def __init__(self, loop: Loop) -> None:
        self.loop = loop
        #: The channels that may have a waiter with a deadline.
        self.channels: set[Channel] = set()
        self.timer: Timer | None = None

    def arm(self, channel: Channel, deadline: float) -> None:
        """Make sure the timer fires by *deadline*, for a waiter of *channel*."""
        self.channels.add(channel)
        timer = self.timer
        if timer is None or timer.when() > deadline:
            if timer is not None:
                timer.cancel()
            self.timer = self.loop.call_at(deadline, self._on_timer)

    def forget(self, channel: Channel) -> None:
        """*channel* is closed: its deadlines no longer matter."""
        self.channels.discard(channel)

    def _on_timer(self) -> None:
        self.timer = None
        now = self.loop.time()
        later: float | None = None
        for channel in list(self.channels):
            pending = channel.expire(now)
            if pending is None:
                self.channels.discard(channel)
            elif later is None or pending < later:
                later = pending
        if later is not None:  # a later wait is still pending: its own deadline
            self.timer = self.loop.call_at(later, self._on_timer)

    def close(self) -> None:
        """Drop the timer, so that nothing of these channels outlives them."""
        self.channels.clear()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Channel:
    """Messages one way: a deque, waiters woken in arrival order, deadlines on one timer."""

    __slots__ = ("_owns_alarm", "alarm", "items", "loop", "thread_waiter", "waiters")

    def __init__(self, loop: Loop, alarm: Alarm | None = None) -> None:
        self.items: deque[Any] = deque()
        self.loop = loop
        #: Waiting futures and their deadlines (loop time, or None), in arrival order.
        self.waiters: list[tuple[Future[None], float | None]] = []
        #: A thread blocked in :meth:`wait_in_thread`, released by the next wake-up.
        self.thread_waiter: threading.Lock | None = None
        #: The timer of the deadlines: this channel's own, or shared with others.
        self.alarm = alarm if alarm is not None else Alarm(loop)
        self._owns_alarm = alarm is None

    def put(self, item: Any) -> None:
        """Append *item* and wake the waiters: the first takes it, the others look again."""
        self.items.append(item)
        if self.waiters or self.thread_waiter is not None:
            self.wake_all()

    def awaited(self) -> bool:
        """Whether someone waits for an item now: a wait cancelled since (a receive
        bounded by ``wait_for``, say) leaves its future behind until the next wake-up."""
        for waiter, _ in self.waiters:  # noqa: SIM110 (any() and a generator cost more)
            if not waiter.done():
                return True
        return False

    def wake_all(self) -> None:
        """Wake every waiter, so that each looks again at what changed.

        Waking them all, rather than the first, means that a waiter cancelled after its
        wake-up never leaves an item behind for the others.
        """
        waiters, self.waiters = self.waiters, []
        for waiter, _ in waiters:
            if not waiter.done():
                waiter.set_result(None)
        thread_waiter = self.thread_waiter
        if thread_waiter is not None:
            self.thread_waiter = None
            thread_waiter.release()

    async def get(self, deadline: float | None) -> Any:
        """The next item; :class:`ChannelTimeout` once the loop's clock reaches *deadline*."""
        items = self.items
        while not items:
            if deadline is not None and self.loop.time() >= deadline:
                raise ChannelTimeout
            await self.wait(deadline)
        return items.popleft()

    def wait(self, deadline: float | None) -> Future[None]:
        """A future that a put or a wake completes, or the loop's clock reaching *deadline*.

        A future rather than a coroutine: the busiest wait of the harness saves a frame.
        The caller looks again at the items once it is woken.
        """
        waiter: Future[None] = self.loop.create_future()
        self.add_waiter(waiter, deadline)
        return waiter

    def add_waiter(self, waiter: Future[None], deadline: float | None) -> None:
        """Wake *waiter* (anything with ``done()`` and ``set_result()``) at the next put or
        wake, or once the loop's clock reaches *deadline*."""
        waiters = self.waiters
        if len(waiters) >= _PRUNE_AT:
            # Waits cancelled before any wake-up (a wait_for() around a receive, say)
            # leave their futures here: drop them, so that the list stays short.
            waiters[:] = [pair for pair in waiters if not pair[0].done()]
        waiters.append((waiter, deadline))
        if deadline is not None:
            self.alarm.arm(self, deadline)

    def run_loop_until_woken(self, deadline: float) -> None:
        """Run the loop, in this thread, until the next put or wake or *deadline*: the
        sync API's receive on a borrowed loop.  The wake-up stops the loop at once, so it
        returns at the end of the very turn in which the app answered."""
        loop = self.loop
        assert isinstance(loop, asyncio.AbstractEventLoop)
        stopper = _LoopStopper(loop)
        self.add_waiter(stopper, deadline)
        while not stopper.done():
            loop.run_forever()

    def wait_in_thread(self, timeout: float) -> bool:
        """Block this thread (not the loop's) until the next put or wake, for at most
        *timeout* seconds; ``False`` if the time ran out.  Returns at once if items wait.

        The sync API's receive waits here, so that the loop's put wakes the test's thread
        directly, with no task and no call into the loop.  One thread waits at a time.
        """
        lock = threading.Lock()
        lock.acquire()
        if self.thread_waiter is not None:
            raise RuntimeError(
                "two threads receive from one session at once: probably a thread receives "
                "while the test does too. Instead, receive in one thread"
            )
        self.thread_waiter = lock
        if self.items:  # put before the waiter was seen: do not sleep past it
            self.thread_waiter = None
            return True
        woken = lock.acquire(timeout=timeout)
        if not woken and self.thread_waiter is lock:
            self.thread_waiter = None
        return woken

    def expire(self, now: float) -> float | None:
        """Wake the waiters whose deadline is past; the earliest deadline still ahead."""
        later: float | None = None
        pending = []
        for waiter, deadline in self.waiters:
            if waiter.done():
                continue
            if deadline is not None and deadline <= now:
                waiter.set_result(None)
                continue
            pending.append((waiter, deadline))
            if deadline is not None and (later is None or deadline < later):
                later = deadline
        self.waiters = pending
        return later

    def close(self) -> None:
        """Leave the alarm (drop its timer if it is this channel's own), so that nothing
        of this channel outlives its connection."""
        if self._owns_alarm:
            self.alarm.close()
        else:
            self.alarm.forget(self)
