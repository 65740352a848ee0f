"""An asyncio event loop in a thread of its own, and blocking calls into it.

>>> with Portal() as portal:
...     portal.call(asyncio.sleep, 0, "done")
'done'

The sync API runs the app here, as Starlette's client runs it in anyio's blocking
portal.  This one does only what the sync API needs, and a call costs one wake-up of
each thread: ``call_soon_threadsafe`` there, a lock back.  The caller's context
variables reach the coroutine, its exception comes back with its traceback, and an
interrupt (Ctrl-C) while waiting cancels it.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")


def refuse_inside_a_loop(call: str) -> None:
    """Raise if this thread runs an event loop: a blocking call there would freeze it."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"{call} blocks, and this thread runs an event loop: probably the sync API was "
        "called from an async test or fixture. Instead, use `async with TestClient(app) "
        "as client` and await its methods"
    )


class Portal:
    """A thread running an asyncio event loop until :meth:`stop`."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The loop the calls run in."""
        if self._loop is None:
            raise RuntimeError("the portal is not running: use `with Portal() as portal`")
        return self._loop

    def start(self) -> None:
        """Start the thread and its loop; return once the loop runs."""
        ready = threading.Event()
        loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="yaat_testing portal", daemon=True)
        self._thread.start()
        ready.wait()

    def call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        """Run ``function(*args)`` in the loop, in a copy of this thread's context."""
        loop = self.loop
        done = threading.Lock()
        done.acquire()
        outcome: list[Any] = []
        coroutine = function(*args)

        async def run() -> None:
            try:
                outcome.append((True, await coroutine))
            except BaseException as error:  # taken back to the caller's thread
                outcome.append((False, error))
            finally:
                done.release()  # at once: no done-callback, one loop iteration less

        tasks: list[asyncio.Task[None]] = []
        context = contextvars.copy_context()
        loop.call_soon_threadsafe(lambda: tasks.append(context.run(loop.create_task, run())))
        try:
            done.acquire()
        except BaseException:  # an interrupt while waiting: stop the call too
            loop.call_soon_threadsafe(lambda: [task.cancel() for task in tasks])
            raise
        succeeded, value = outcome[0]
        if succeeded:
            return value  # type: ignore[no-any-return]
        raise value

    def post(self, function: Callable[..., Coroutine[Any, Any, object]], *args: Any) -> None:
        """Start ``function(*args)`` in the loop and return at once; calls run in order."""
        loop = self.loop
        coroutine = function(*args)
        context = contextvars.copy_context()
        loop.call_soon_threadsafe(context.run, loop.create_task, coroutine)

    def stop(self) -> None:
        """Cancel what still runs, stop the loop and join the thread."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self.call(_cancel_the_others)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        self._loop = self._thread = None

    def __enter__(self) -> Portal:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


async def _cancel_the_others() -> None:
    others = asyncio.all_tasks() - {asyncio.current_task()}
    for task in others:
        task.cancel()
    if others:
        await asyncio.wait(others, timeout=5.0)
