"""An asyncio event loop on a virtual clock: it jumps to the next timer instead of
sleeping, so that what runs in memory depends on the order of events alone.

>>> async def nap() -> float:
...     await asyncio.sleep(3600)  # returns at once
...     return asyncio.get_running_loop().time()
>>> round(run_on_virtual_clock(nap()), 3)  # an hour, and a few turns
3600.0

The in-memory player (``tests/fidelity/play.py``) bounds every wait, as the live one
does: a ``receive()`` that gets nothing for 0.5 s is noted "waited".  On the wall
clock, whether 0.5 s passed before the app's answer depends on the machine's load, so
the same scenario could give two outcomes.  Nothing in memory waits for real I/O, so
on this clock a wait ends exactly when every task that could run has run and its
deadline is the next thing due: the same outcome on every run, and an hour of timeouts
takes no time.  It is trio's ``MockClock(autojump_threshold=0)``, for asyncio.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

#: How long (real seconds) the loop may wait with nothing scheduled: only another
#: thread could wake it then, and nothing in memory should leave it so.
STALL = 10.0
#: The virtual time a loop turn takes.  A turn of a live loop with a server and a client
#: in it takes tens of microseconds, so that of two bounded waits due at the same
#: instant (an app's two 0.5 s receives and the client's 1 s read, say) the one with
#: more turns behind it ends last, as on the wall clock; with turns that take no time,
#: the order the timers were set in would decide.  (Any value from 10 to 100 µs gives
#: the same outcomes on the corpus.)
TURN = 30e-6


class JumpingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """A selector that moves the clock on by a turn each time the loop polls it, and,
    when nothing is ready, by the timeout the loop asked to sleep for, and returns at
    once."""

    def __init__(self) -> None:
        super().__init__()
        #: The virtual time, in seconds from the loop's start.
        self.now = 0.0

    def select(self, timeout: float | None = None) -> list[tuple[Any, int]]:
        events: list[tuple[Any, int]] = super().select(0)
        self.now += TURN
        if events or timeout == 0:
            return events
        if timeout is None:  # nothing scheduled: only another thread can wake the loop
            events = super().select(STALL)
            if not events:
                raise RuntimeError(
                    f"the virtual clock's loop has had nothing to run for {STALL:g} s of "
                    "real time, and no timer: a wait without a deadline"
                )
            return events
        self.now += timeout
        return []


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """``asyncio.SelectorEventLoop`` whose ``time()`` is the virtual clock."""

    def __init__(self) -> None:
        self._selector_clock = JumpingSelector()
        super().__init__(self._selector_clock)

    def time(self) -> float:
        return self._selector_clock.now


def run_on_virtual_clock(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run *coroutine* to its end on a fresh :class:`VirtualClockLoop` (what
    ``asyncio.run`` does, on Python 3.10 too): tasks it leaves are cancelled."""
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        left = asyncio.all_tasks(loop)
        for task in left:
            task.cancel()
        if left:
            loop.run_until_complete(asyncio.wait(left))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
