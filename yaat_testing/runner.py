"""One call of an ASGI app: its task, what it raised or returned, and an end that is bounded.

Example::

    runner = AppRunner()
    runner.start(app, scope, receive, send)      # in memory: a task of its own
    await runner.run(app, scope, receive, send)  # live: inside the server's own task
    if not await runner.wait(timeout=5.0):       # False: it was cancelled after 5 s
        raise runner.error or TimeoutError()

The in-memory transport, its lifespan, and live mode's server wrapper all run the app
through this one class, so "the app raised", "the app never ended" and "cancel it"
mean the same everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from yaat.types import ASGIApp, Receive, Scope, Send
from yaat_testing.channel import Channel
from yaat_testing.loops import Loop, Task, current_task, is_cancellation, one_turn, running_loop


class AppRunner:
    """Runs the app once and keeps what happened.

    ``expected`` are exceptions that end the app normally (a server's "the client is
    gone"); they are not the app's failure.  ``on_end`` is called once the app ends, in
    the app's task.  :meth:`wait` sleeps on *channel*, which the end wakes: give it a
    channel that has its timer armed already, and a wait costs no timer of its own.
    ``loop`` is the loop :meth:`start` runs the app in (the running one by default).
    """

    __slots__ = (
        "_channel",
        "_expected",
        "_loop",
        "_on_end",
        "_owned",
        "ended",
        "error",
        "result",
        "task",
    )

    def __init__(
        self,
        *,
        expected: tuple[type[BaseException], ...] = (),
        on_end: Callable[[AppRunner], None] | None = None,
        channel: Channel | None = None,
        loop: Loop | None = None,
    ) -> None:
        self._on_end = on_end
        self._expected = expected
        self._owned = False
        self._channel = channel
        self._loop = loop
        #: The task the app runs in: this runner's own, or the server's.
        self.task: Task[Any] | None = None
        #: Whether the app has ended, by returning, raising or being cancelled.
        self.ended = False
        #: What the app raised, other than a cancellation or an ``expected`` exception.
        self.error: BaseException | None = None
        #: What the app returned (``None`` for an app that keeps the spec).
        self.result: object = None

    def start(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app in a task of its own; what it raises is kept, never propagated."""
        self._owned = True
        loop = self._loop or running_loop()
        self.task = loop.create_task(self.run(app, scope, receive, send, False))

    async def run(
        self, app: ASGIApp, scope: Scope, receive: Receive, send: Send, propagate: bool = True
    ) -> None:
        """Run the app in the current task; what it raises is kept, then propagated."""
        if self.task is None:
            self.task = current_task()  # type: ignore[assignment]
        call: Any = app  # an app that breaks the spec may return a value
        try:
            self.result = await call(scope, receive, send)
        except BaseException as exc:
            if not isinstance(exc, self._expected) and not is_cancellation(exc):
                self.error = exc
            if propagate:
                raise
        finally:
            self.ended = True
            channel = self._channel
            if channel is not None:
                # The app may run in a server's own loop and thread (daphne's reactor).
                if channel.loop is running_loop():
                    channel.wake_all()
                else:
                    channel.loop.call_soon_threadsafe(channel.wake_all)
            on_end, self._on_end = self._on_end, None
            if on_end is not None:
                # Called once, then dropped: a connection's bound method here would keep
                # the connection, this runner and the app's task in a cycle for the GC.
                on_end(self)

    async def wait(self, timeout: float, *, cancel: bool = True) -> bool:
        """Wait for the app to end; after *timeout*, cancel it (unless not *cancel*: it
        runs on).  True if it ended by itself."""
        if not self.ended:
            loop = running_loop()
            await one_turn(loop)  # an app that ends on what it was just sent ends now
        if not self.ended:
            channel = self._channel
            if channel is None:
                channel = self._channel = Channel(loop)
            deadline = loop.time() + timeout
            while True:
                await channel.wait(deadline)
                if self.ended or loop.time() >= deadline:
                    break
            if not self.ended:
                if cancel:
                    await self.cancel(timeout)
                return False
        task = self.task
        if self._owned and task is not None and not task.done():
            await task  # it has ended: this only lets its task finish
        return True

    @property
    def channel(self) -> Channel | None:
        """Where :meth:`wait` sleeps, woken by the app's end."""
        return self._channel

    async def cancel(self, grace: float) -> None:
        """Cancel the app and wait up to *grace* seconds for it to stop."""
        task = self.task
        if task is None or task.done():
            return
        loop = running_loop()
        channel = self._channel or Channel(loop)
        self._channel = channel
        if task.get_loop() is loop:
            task.add_done_callback(lambda _: channel.wake_all())
            task.cancel()
            stopped: Callable[[], bool] = task.done
        else:
            # A task of another loop (a server's own thread): cancel it there, and wait
            # for the end it reports on this runner's channel.
            task.get_loop().call_soon_threadsafe(task.cancel)
            stopped = self._has_ended
        deadline = loop.time() + grace
        while not stopped() and loop.time() < deadline:
            await channel.wait(deadline)

    def _has_ended(self) -> bool:
        return self.ended
