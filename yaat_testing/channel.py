"""A one-way message channel between the app and the test, in one event loop.

>>> async def demo():
...     channel = Channel(asyncio.get_running_loop())
...     channel.put("hello")
...     return await channel.get(deadline=None)
>>> asyncio.run(demo())
'hello'

No ``asyncio.Queue`` and no ``wait_for``: a put appends and wakes the first waiter, and
a get takes from the deque without suspending when a message is there already.
Timeouts cost one timer per *timeout period*, not one per wait: the timer is armed for
the earliest deadline and, when it fires early for a later one, re-armed.
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any


class ChannelTimeout(Exception):
    """A :meth:`Channel.get` reached its deadline with nothing to take."""


class Channel:
    """Messages one way: a deque, waiters served in arrival order, deadlines on one timer."""

    __slots__ = ("items", "loop", "timer", "waiters")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.items: deque[Any] = deque()
        self.loop = loop
        #: Waiting futures and their deadlines (loop time, or None), in arrival order.
        self.waiters: dict[asyncio.Future[None], float | None] = {}
        self.timer: asyncio.TimerHandle | None = None

    def put(self, item: Any) -> None:
        """Append *item* and wake the first waiter."""
        self.items.append(item)
        if self.waiters:
            for waiter in self.waiters:  # the first that still waits (_wake_first, inlined)
                if not waiter.done():
                    waiter.set_result(None)
                    return

    def wake_all(self) -> None:
        """Wake every waiter, so that each looks again at what changed."""
        if not self.waiters:
            return
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def get(self, deadline: float | None) -> Any:
        """The next item; :class:`ChannelTimeout` once the loop's clock reaches *deadline*."""
        items = self.items
        while not items:
            if deadline is not None and self.loop.time() >= deadline:
                raise ChannelTimeout
            await self.wait(deadline)
        return items.popleft()

    async def wait(self, deadline: float | None) -> None:
        """Suspend until a put or a wake, or until the loop's clock reaches *deadline*."""
        waiter = self.loop.create_future()
        self.waiters[waiter] = deadline
        if deadline is not None:
            timer = self.timer
            if timer is None or timer.when() > deadline:
                if timer is not None:
                    timer.cancel()
                self.timer = self.loop.call_at(deadline, self._on_timer)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and self.items:
                self._wake_first()  # this waiter was woken for an item it will not take
            raise
        finally:
            del self.waiters[waiter]

    def _wake_first(self) -> None:
        for waiter in self.waiters:
            if not waiter.done():
                waiter.set_result(None)
                return

    def _on_timer(self) -> None:
        self.timer = None
        now = self.loop.time()
        later: float | None = None
        for waiter, deadline in self.waiters.items():
            if deadline is None or waiter.done():
                continue
            if deadline <= now:
                waiter.set_result(None)
            elif later is None or deadline < later:
                later = deadline
        if later is not None:  # a later wait is still pending: its own deadline
            self.timer = self.loop.call_at(later, self._on_timer)

    def close(self) -> None:
        """Drop the timer, so that nothing of this channel outlives its connection."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
