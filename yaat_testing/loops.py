"""The event loop the harness runs in: asyncio's own, or trio's behind the same methods.

>>> async def demo():
...     return running_loop() is asyncio.get_running_loop()
>>> asyncio.run(demo())
True

The harness needs a few things of an event loop: ``time()``, ``create_future()``,
``create_task()``, ``call_at()``, ``call_soon()``, ``call_soon_threadsafe()``, and the
task running now (:func:`current_task`).  On
asyncio they are the loop's own, so the hot paths pay for nothing in between.  On trio,
:class:`TrioLoop` provides them with trio's low-level API: the channels, the app's
runner and the in-memory transport are the same code on both.

>>> import trio
>>> async def on_trio():
...     loop = running_loop()
...     future = loop.create_future()
...     loop.call_at(loop.time() + 0.01, future.set_result, "woken")
...     return type(loop).__name__, await future
>>> trio.run(on_trio)
('TrioLoop', 'woken')
"""

from __future__ import annotations

import asyncio
import contextvars
import sys
import types
from collections.abc import Awaitable, Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    import trio

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)


class NoEventLoop(RuntimeError):
    """The harness was awaited where neither asyncio nor trio runs."""


class Future(Protocol[T]):
    """What the harness does with a future: ``asyncio.Future``, or :class:`TrioFuture`."""

    def done(self) -> bool:
        """Whether a result is set, or the wait was cancelled."""
        ...

    def set_result(self, result: T, /) -> None:
        """Set the result and wake whoever awaits it."""
        ...

    def __await__(self) -> Generator[Any, None, T]: ...


class Task(Protocol[T_co]):
    """What the harness does with a task: ``asyncio.Task``, or :class:`TrioTask`."""

    def done(self) -> bool:
        """Whether the coroutine has ended."""
        ...

    def cancel(self) -> object:
        """Ask the coroutine to stop: a cancellation is raised at its next await."""
        ...

    def get_loop(self) -> Any:
        """The loop the task runs in."""
        ...

    def add_done_callback(self, callback: Callable[[Any], object], /) -> None:
        """Call ``callback(task)`` once the task is done."""
        ...

    def __await__(self) -> Generator[Any, None, T_co]: ...


class Timer(Protocol):
    """A callback to be called at a time: ``asyncio.TimerHandle``, or :class:`TrioTimer`."""

    def when(self) -> float:
        """The loop time it fires at."""
        ...

    def cancel(self) -> None:
        """Do not call it."""
        ...


class Loop(Protocol):
    """The few methods of an event loop the harness uses."""

    def time(self) -> float:
        """The loop's clock, which deadlines are measured on."""
        ...

    def create_future(self) -> Future[Any]:
        """A future of this loop."""
        ...

    def create_task(self, coro: Coroutine[Any, Any, T], /) -> Task[T]:
        """Run *coro* in a task of its own, in a copy of the current context."""
        ...

    def call_at(self, when: float, callback: Callable[..., object], /, *args: Any) -> Timer:
        """Call ``callback(*args)`` once the loop's clock reaches *when*."""
        ...

    def call_soon(self, callback: Callable[..., object], /, *args: Any) -> object:
        """Call ``callback(*args)`` on the loop's next turn, from the loop's own thread."""
        ...

    def call_soon_threadsafe(self, callback: Callable[..., object], /, *args: Any) -> object:
        """Call ``callback(*args)`` in the loop's thread, from any thread."""
        ...


def call_at_next_poll(loop: Loop, callback: Callable[..., object], /, *args: Any) -> None:
    """Call ``callback(*args)`` when *loop* next polls its sockets, behind the callbacks
    already due: where a server in the loop reads what its peer wrote.

    asyncio runs a timer that is due with the callbacks of the I/O it polled, after the
    ones queued before; a ``call_soon`` would run among those.  On trio: soon.
    """
    if type(loop) is TrioLoop:
        loop.call_soon(callback, *args)
    else:
        loop.call_at(loop.time(), callback, *args)


def running_loop() -> Loop:
    """The loop of the running asyncio or trio code: asyncio's own, or a :class:`TrioLoop`."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    if trio is not None:
        try:
            return TrioLoop.current()
        except RuntimeError:
            pass
    raise NoEventLoop(
        "the harness runs in an asyncio or a trio event loop, and this code runs in "
        "neither: probably an async method was called without `await` in an async test, or "
        "from another library's loop. Instead, await it in an asyncio or trio test "
        "(pytest-asyncio, or anyio's pytest plugin), or use the blocking API: "
        "`with TestClient(app) as client`"
    )


def context_for(library: str) -> contextvars.Context:
    """A copy of this context for code that runs on *library* (``"asyncio"``, ``"trio"``):
    the caller's context variables, with sniffio's "which library runs me" said anew.
    Copied from a trio test into an asyncio portal, it would say trio, and anyio, which
    reads it, would take the wrong backend."""
    context = contextvars.copy_context()
    sniffio = sys.modules.get("sniffio")
    if sniffio is not None:
        context.run(sniffio.current_async_library_cvar.set, library)
    return context


def trio_runs_here() -> bool:
    """Whether this thread is inside a ``trio.run`` (cheap when trio was never imported)."""
    trio = sys.modules.get("trio")
    return trio is not None and bool(trio.lowlevel.in_trio_run())


def current_task() -> object:
    """The task running now, on asyncio or trio."""
    try:
        return asyncio.current_task()
    except RuntimeError:  # no asyncio loop runs here: trio does
        import trio

        return trio.lowlevel.current_task()


@types.coroutine
def _one_turn() -> Generator[None, None, None]:
    yield  # what asyncio.sleep(0) yields: the task is called again after the others


def one_turn(loop: Loop) -> Awaitable[None]:
    """Let every task that is ready run once, then go on: ``await one_turn(loop)``.

    On asyncio the waiting task goes to the back of the ready queue, behind the tasks
    a put has just woken: when the app answers at once, the test finds the answer in
    the same loop iteration, where a wait on a future would take two.  On trio, whose
    ready tasks run in no given order, a checkpoint.
    """
    if type(loop) is TrioLoop:
        import trio

        return trio.lowlevel.checkpoint()  # noqa: ASYNC105 - awaited by the caller
    return _one_turn()


def is_cancellation(error: BaseException) -> bool:
    """Whether *error* is the loop cancelling a task, on asyncio or trio."""
    if isinstance(error, asyncio.CancelledError):
        return True
    trio = sys.modules.get("trio")
    return trio is not None and isinstance(error, trio.Cancelled)


# -- trio ---------------------------------------------------------------------------------


class TrioFuture:
    """An ``asyncio.Future`` for trio, as far as the harness uses one.

    Awaiting it parks the task with ``trio.lowlevel.wait_task_rescheduled``; a
    cancelled await leaves it done (cancelled), as a cancelled ``asyncio.Future``.
    """

    __slots__ = ("_cancelled", "_done", "_result", "_waiting")

    def __init__(self) -> None:
        self._done = False
        self._cancelled = False
        self._result: Any = None
        self._waiting: list[trio.lowlevel.Task] = []

    def done(self) -> bool:
        """Whether a result is set, or an await of it was cancelled."""
        return self._done

    def cancelled(self) -> bool:
        """Whether an await of it was cancelled before a result came."""
        return self._cancelled

    def result(self) -> Any:
        """The result set."""
        if not self._done or self._cancelled:
            raise asyncio.InvalidStateError("the future has no result")
        return self._result

    def set_result(self, result: Any, /) -> None:
        """Set the result and wake every task that awaits it."""
        if self._done:
            raise asyncio.InvalidStateError("the future is done already")
        self._done = True
        self._result = result
        waiting, self._waiting = self._waiting, []
        if waiting:
            import trio

            for task in waiting:
                trio.lowlevel.reschedule(task)

    def __await__(self) -> Generator[Any, None, Any]:
        if not self._done:
            import trio

            task = trio.lowlevel.current_task()
            self._waiting.append(task)

            def abort(_: object) -> trio.lowlevel.Abort:
                self._waiting.remove(task)
                if not self._waiting and not self._done:
                    self._done = self._cancelled = True
                return trio.lowlevel.Abort.SUCCEEDED

            yield from trio.lowlevel.wait_task_rescheduled(abort).__await__()  # noqa: ASYNC105
        if self._cancelled:
            raise asyncio.InvalidStateError("the future was cancelled")
        return self._result


class TrioTask:
    """A coroutine run as a trio system task, handled as an ``asyncio.Task``.

    A system task needs no nursery, which lets a session start its app from any
    task, as asyncio's ``create_task`` does.  It runs in a copy of the context it was
    created in, inside a cancel scope that :meth:`cancel` cancels.  What the coroutine
    raises is kept, never raised into trio (a system task must not raise).
    """

    __slots__ = ("_callbacks", "_cancel_requested", "_end", "_error", "_loop", "_result", "_scope")

    def __init__(self, loop: TrioLoop, coro: Coroutine[Any, Any, Any]) -> None:
        import trio

        self._loop = loop
        self._scope: trio.CancelScope | None = None
        self._cancel_requested = False
        self._end = TrioFuture()
        self._result: Any = None
        self._error: BaseException | None = None
        self._callbacks: list[Callable[[TrioTask], object]] = []
        trio.lowlevel.spawn_system_task(self._run, coro, context=contextvars.copy_context())

    async def _run(self, coro: Coroutine[Any, Any, Any]) -> None:
        import trio

        try:
            with trio.CancelScope() as scope:
                self._scope = scope
                if self._cancel_requested:
                    scope.cancel()
                try:
                    self._result = await coro
                except BaseException as error:  # kept for whoever awaits the task
                    self._error = error
                    if is_cancellation(error) and not scope.cancel_called:
                        raise  # the run is ending: trio's own cancellation goes through
        finally:
            self._end.set_result(None)
            for callback in self._callbacks:
                callback(self)

    def add_done_callback(self, callback: Callable[[TrioTask], object], /) -> None:
        """Call ``callback(task)`` once the coroutine has ended."""
        if self.done():
            callback(self)
        else:
            self._callbacks.append(callback)

    def done(self) -> bool:
        """Whether the coroutine has ended."""
        return self._end.done()

    def cancel(self) -> bool:
        """Cancel the coroutine at its next checkpoint."""
        if self.done():
            return False
        self._cancel_requested = True
        if self._scope is not None:
            self._scope.cancel()
        return True

    def get_loop(self) -> TrioLoop:
        """The :class:`TrioLoop` the task runs in."""
        return self._loop

    def __await__(self) -> Generator[Any, None, Any]:
        yield from self._end.__await__()
        error = self._error
        if error is not None:
            if is_cancellation(error):  # trio's Cancelled belongs to its own scope
                raise asyncio.CancelledError("the task was cancelled")
            raise error
        return self._result


class TrioTimer:
    """``callback(*args)`` at a trio clock time, as ``loop.call_at`` schedules it."""

    __slots__ = ("_args", "_callback", "_cancelled", "_scope", "_when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]):
        import trio

        self._when = when
        self._callback = callback
        self._args = args
        self._cancelled = False
        self._scope = trio.CancelScope()
        trio.lowlevel.spawn_system_task(self._sleep_then_call)

    async def _sleep_then_call(self) -> None:
        import trio

        with self._scope:
            await trio.sleep_until(self._when)
        if not self._cancelled and not self._scope.cancelled_caught:
            self._callback(*self._args)

    def when(self) -> float:
        """The trio clock time it fires at."""
        return self._when

    def cancel(self) -> None:
        """Do not call it."""
        self._cancelled = True
        self._scope.cancel()


class TrioLoop:
    """The methods of an asyncio loop the harness uses, on the running trio run.

    One per ``trio.run``: :meth:`current` keeps it in a ``RunVar``.
    """

    def __init__(self, token: trio.lowlevel.TrioToken) -> None:
        self._token = token

    @classmethod
    def current(cls) -> TrioLoop:
        """The loop of the running ``trio.run``; ``RuntimeError`` outside one."""
        import trio

        token = trio.lowlevel.current_trio_token()  # RuntimeError outside a run
        var = _run_var()
        try:
            loop: TrioLoop = var.get()
        except LookupError:
            loop = cls(token)
            var.set(loop)
        return loop

    def time(self) -> float:
        """trio's clock."""
        import trio

        return trio.current_time()

    def create_future(self) -> TrioFuture:
        """A :class:`TrioFuture`."""
        return TrioFuture()

    def create_task(self, coro: Coroutine[Any, Any, T], /) -> TrioTask:
        """Run *coro* as a system task, in a copy of the current context."""
        return TrioTask(self, coro)

    def call_at(self, when: float, callback: Callable[..., object], /, *args: Any) -> TrioTimer:
        """Call ``callback(*args)`` once trio's clock reaches *when*."""
        return TrioTimer(when, callback, args)

    def call_soon(self, callback: Callable[..., object], /, *args: Any) -> None:
        """Call ``callback(*args)`` soon, from the run's own thread."""
        self._token.run_sync_soon(callback, *args)

    def call_soon_threadsafe(self, callback: Callable[..., object], /, *args: Any) -> None:
        """Call ``callback(*args)`` in the run's thread, from any thread."""
        self._token.run_sync_soon(callback, *args)


_trio_loop_var: Any = None  # the RunVar holding each run's TrioLoop, once trio is used


def _run_var() -> Any:
    global _trio_loop_var
    if _trio_loop_var is None:
        import trio

        _trio_loop_var = trio.lowlevel.RunVar("yaat_testing_loop")
    return _trio_loop_var
