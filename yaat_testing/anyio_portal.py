"""anyio's ``BlockingPortal`` API over a :class:`~yaat_testing.portal.Portal`.

>>> import asyncio
>>> from yaat_testing.portal import Portal
>>> with Portal() as portal:
...     blocking = AnyioPortal(portal)
...     blocking.call(asyncio.sleep, 0, "called"), blocking.start_task_soon(len, "four").result()
('called', 4)

Starlette's ``TestClient`` runs the app's lifespan and every HTTP request through
``client.portal``, an anyio ``BlockingPortal``.  The drop-in gives it this object
instead: the same methods (``call``, ``start_task_soon``, ``start_task``,
``wrap_async_context_manager``, ``stop``) with the same meaning, over a portal whose loop
a plain test borrows, so that the app's objects and the WebSocket sessions share one
loop and a blocking call wakes no thread.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import Future as ConcurrentFuture
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, TypeVar

from yaat_testing.loops import Future, context_for, is_cancellation, running_loop
from yaat_testing.portal import Portal

T = TypeVar("T")


class TaskStatus:
    """What ``start_task`` hands its function as ``task_status``: call :meth:`started`."""

    __slots__ = ("_started",)

    def __init__(self, started: Future[tuple[bool, Any]]) -> None:
        self._started = started

    def started(self, value: object = None) -> None:
        """Tell ``start_task`` that the task is ready, and hand it *value*."""
        if self._started.done():
            raise RuntimeError("task_status.started() called twice")
        self._started.set_result((True, value))


class AnyioPortal:
    """The methods of anyio's ``BlockingPortal`` that callers use, over *portal*."""

    def __init__(self, portal: Portal) -> None:
        #: The portal whose loop the calls and tasks run in.
        self.portal = portal

    def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run ``func(*args)`` in the loop and return its result (awaited if need be)."""
        return self.portal.call(func, *args)

    def start_task_soon(
        self, func: Callable[..., Awaitable[T] | T], *args: Any, name: object = None
    ) -> ConcurrentFuture[T]:
        """Start ``func(*args)`` as a task and return a future of its result at once.
        Cancelling the future cancels the task."""
        future: ConcurrentFuture[T] = ConcurrentFuture()
        context = context_for(self.portal.library)
        self.portal.call_soon(context.run, self._spawn, func, args, future, None)
        return future

    def start_task(
        self, func: Callable[..., Awaitable[T]], *args: Any, name: object = None
    ) -> tuple[ConcurrentFuture[T], Any]:
        """Start ``func(*args, task_status=...)`` as a task; return its future and the
        value it passed to ``task_status.started()``, once it has."""
        future: ConcurrentFuture[T] = ConcurrentFuture()
        value = self.portal.call(self._start, func, args, future)
        return future, value

    async def _start(
        self, func: Callable[..., Awaitable[T]], args: tuple[Any, ...], future: ConcurrentFuture[T]
    ) -> Any:
        started: Future[tuple[bool, Any]] = running_loop().create_future()
        self._spawn(func, args, future, TaskStatus(started))
        succeeded, value = await started
        if not succeeded:
            raise value
        return value

    def _spawn(
        self,
        func: Callable[..., Awaitable[T] | T],
        args: tuple[Any, ...],
        future: ConcurrentFuture[T],
        status: TaskStatus | None,
    ) -> None:
        """In the loop's thread: the task, which the future's cancellation cancels."""
        loop = running_loop()
        task = loop.create_task(self._run(func, args, future, status))
        future.add_done_callback(
            lambda done: loop.call_soon_threadsafe(task.cancel) if done.cancelled() else None
        )

    @staticmethod
    async def _run(
        func: Callable[..., Awaitable[T] | T],
        args: tuple[Any, ...],
        future: ConcurrentFuture[T],
        status: TaskStatus | None,
    ) -> None:
        try:
            result = func(*args) if status is None else func(*args, task_status=status)
            if inspect.isawaitable(result):
                result = await result
        except BaseException as error:
            if status is not None and not status._started.done():
                status._started.set_result((False, error))
            if not future.cancelled():
                future.set_exception(error)
            if not isinstance(error, Exception) and not is_cancellation(error):
                raise  # KeyboardInterrupt and the like go on
        else:
            if status is not None and not status._started.done():
                unstarted = RuntimeError("Task exited without calling task_status.started()")
                status._started.set_result((False, unstarted))
            if not future.cancelled():
                future.set_result(result)

    @contextlib.contextmanager
    def wrap_async_context_manager(self, cm: AbstractAsyncContextManager[T]) -> Iterator[T]:
        """*cm* as a sync context manager: entered and exited in one task of the loop."""
        future, (value, leave, left) = self.start_task(_hold, cm)
        try:
            yield value
        except BaseException as error:
            suppressed = self.call(_leave, leave, left, (type(error), error, error.__traceback__))
            if not suppressed:
                raise
        else:
            self.call(_leave, leave, left, (None, None, None))
        future.result()

    def stop(self, cancel_remaining: bool = False) -> None:
        """Stop the portal: what still runs is cancelled."""
        self.portal.stop()


_ExcInfo = tuple[type[BaseException] | None, BaseException | None, TracebackType | None]


async def _hold(cm: AbstractAsyncContextManager[Any], *, task_status: TaskStatus) -> None:
    """Enter *cm*, hand its value over, and exit it once told, with what happened."""
    loop = running_loop()
    leave: Future[_ExcInfo] = loop.create_future()
    left: Future[tuple[bool, Any]] = loop.create_future()
    value = await cm.__aenter__()
    task_status.started((value, leave, left))
    exc_type, exc, tb = await leave
    try:
        suppressed = bool(await cm.__aexit__(exc_type, exc, tb))
    except BaseException as error:  # raised in the caller's thread instead
        left.set_result((False, error))
    else:
        left.set_result((True, suppressed))


async def _leave(
    leave: Future[_ExcInfo], left: Future[tuple[bool, Any]], exc_info: _ExcInfo
) -> bool:
    leave.set_result(exc_info)
    succeeded, outcome = await left
    if not succeeded:
        raise outcome
    return bool(outcome)
