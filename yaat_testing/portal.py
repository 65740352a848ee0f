"""An event loop for blocking calls: run where the caller waits, and in the background.

>>> import asyncio
>>> with Portal() as portal:
...     portal.call(asyncio.sleep, 0, "done")
'done'

The sync API runs the app in a portal, as Starlette's client runs it in anyio's
blocking portal, and a portal behaves as one: the caller's context variables reach
the call, its exception comes back with its traceback, an interrupt (Ctrl-C) while
waiting cancels it, and the app keeps running between calls.

What differs is where the loop runs.  A plain ``def`` test that calls in *borrows* the
loop: the call runs in the test's own thread, with no thread to wake and no lock to
hand over, which makes a blocking call cost about what an ``await`` does.  Between
calls the loop is parked; once no call has come for :data:`IDLE` seconds, a pump
thread of the portal's own takes it over, so that the app runs on while the test
sleeps or computes (a sleeping test sees its app's work done, as with Starlette's
client).  The next call takes the loop back.  A caller that runs an event loop itself
(an ``async def`` test or fixture) cannot borrow: its calls cross to the pump thread,
one wake-up each way, and the test's own loop is blocked meanwhile, as with
Starlette's.  On trio (``Portal("trio")``) the loop always runs in its thread, and
:meth:`Portal.attach` calls into a loop another thread runs already (anyio's portal,
inside Starlette's ``with client:``).
"""

from __future__ import annotations

import asyncio
import enum
import inspect
import threading
import time
import weakref
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Literal, TypeVar, overload

from yaat_testing.loops import Loop, TrioLoop, context_for, running_loop, trio_runs_here

T = TypeVar("T")

Backend = Literal["asyncio", "trio"]
#: The event loops a portal can run.
BACKENDS: tuple[Backend, ...] = ("asyncio", "trio")

#: Seconds without a call after which the pump thread runs the app in the background.
IDLE = 0.002


class _Runner(enum.Enum):
    """Who runs a portal's asyncio loop now."""

    NOBODY = "parked"  # the app waits for the next call, or for the pump
    CALLER = "borrowed"  # a calling thread, for the length of its call
    PUMP = "pumped"  # the portal's pump thread, until a caller takes the loop back


class Portal:
    """An asyncio or trio event loop that blocking calls run in, until :meth:`stop`."""

    def __init__(self, backend: Backend = "asyncio") -> None:
        if backend not in BACKENDS:
            raise ValueError(
                f"backend must be 'asyncio' or 'trio', got {backend!r}: the sync API runs "
                "the app in an event loop of one of these"
            )
        #: The event loop library the portal runs.
        self.backend = backend
        self._loop: Loop | None = None
        #: The thread the loop runs in when it does not run in the caller's: the pump.
        self.thread_id: int | None = None
        self._thread: threading.Thread | None = None
        self._stop_thread: Callable[[], object] | None = None
        # Borrowing (own asyncio loop only): who runs the loop, guarded by _lock.
        self._borrowable = False
        self._lock = threading.Lock()
        self._runner = _Runner.NOBODY
        self._holder: int | None = None  # the thread that borrowed the loop
        self._depth = 0  # how many borrows of that thread are not given back yet
        self._parked_at = 0.0
        self._across = 0  # calls from other threads not yet done: the pump keeps running
        self._yield_asked = False
        self._pump_wanted = threading.Event()
        self._closing = False

    @classmethod
    def attach(cls, loop: Loop, thread_id: int) -> Portal:
        """A portal into *loop*, which thread *thread_id* runs already; :meth:`stop`
        leaves it running."""
        portal = cls()
        portal._loop = loop
        portal.thread_id = thread_id
        portal._runner = _Runner.PUMP
        return portal

    @property
    def loop(self) -> Loop:
        """The loop the calls run in."""
        if self._loop is None:
            raise RuntimeError("the portal is not running: use `with Portal() as portal`")
        return self._loop

    @property
    def library(self) -> str:
        """The async library the loop is: ``"asyncio"`` or ``"trio"``."""
        return "trio" if isinstance(self._loop, TrioLoop) else "asyncio"

    @property
    def runs_elsewhere(self) -> bool:
        """Whether another thread runs the loop now: a caller may wait for its work in
        its own thread (the sync API's receive does)."""
        return self._runner is _Runner.PUMP

    # -- starting and stopping ----------------------------------------------------------

    def start(self) -> None:
        """Make the loop: parked, on asyncio, until the first call; on trio, running in a
        thread of its own."""
        if self.backend == "asyncio":
            self._loop = asyncio.new_event_loop()
            self._borrowable = True
            self._parked_at = time.monotonic()
            _WATCHDOG.watch(self)
            return
        ready = threading.Event()
        failed: list[BaseException] = []

        def run() -> None:
            try:
                self._run_trio(ready)
            except BaseException as error:  # reported by start() if the loop never ran
                failed.append(error)
                ready.set()

        self._runner = _Runner.PUMP
        self._thread = threading.Thread(target=run, name="yaat_testing portal", daemon=True)
        self._thread.start()
        ready.wait()
        if failed:
            self._thread.join()
            raise failed[0]

    def _run_trio(self, ready: threading.Event) -> None:
        import trio

        async def serve() -> None:
            stopped = trio.Event()
            self._loop, self.thread_id = running_loop(), threading.get_ident()
            self._stop_thread = stopped.set
            ready.set()
            await stopped.wait()  # the app's tasks are system tasks: trio cancels them now

        trio.run(serve)

    def stop(self) -> None:
        """Cancel what still runs, stop the loop and its thread (a portal that
        :meth:`attach` made only forgets the loop)."""
        loop = self._loop
        if loop is None:
            return
        if self._borrowable:
            self._stop_own_loop(loop)
        elif self._thread is not None and self._stop_thread is not None:
            loop.call_soon_threadsafe(self._stop_thread)
            self._thread.join()
        self._loop = self._thread = self._stop_thread = None

    def _stop_own_loop(self, loop: Loop) -> None:
        assert isinstance(loop, asyncio.AbstractEventLoop)
        _WATCHDOG.forget(self)
        try:
            self.call(_cancel_the_others)
            self.call(loop.shutdown_asyncgens)
        finally:
            with self._lock:
                self._closing = True
                pumped = self._runner is _Runner.PUMP
            if pumped:
                loop.call_soon_threadsafe(loop.stop)
            self._pump_wanted.set()
            if self._thread is not None:
                self._thread.join()
            loop.close()

    # -- the pump: the loop in the background ------------------------------------------

    def _pump_if_idle(self, now: float) -> None:
        """The watchdog's check: a loop parked for :data:`IDLE` seconds is pumped."""
        with self._lock:
            if self._closing or self._runner is not _Runner.NOBODY:
                return
            if now - self._parked_at >= IDLE:
                self._pump_locked()

    def _pump_locked(self) -> None:
        self._runner = _Runner.PUMP
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._pump, name="yaat_testing portal", daemon=True
            )
            self._thread.start()
        self._pump_wanted.set()

    def _pump(self) -> None:
        loop = self._loop
        assert isinstance(loop, asyncio.AbstractEventLoop)
        self.thread_id = threading.get_ident()
        asyncio.set_event_loop(loop)
        while True:
            self._pump_wanted.wait()
            self._pump_wanted.clear()
            if self._closing:
                return
            while True:
                loop.run_forever()  # until a caller asks for the loop back, or stop()
                with self._lock:
                    if self._across and not self._closing:
                        continue  # a call from another thread still needs the loop
                    self._runner = _Runner.NOBODY
                    self._parked_at = time.monotonic()
                    self._yield_asked = False
                    break

    # -- calls ----------------------------------------------------------------------------

    @overload
    def call(self, function: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T: ...

    @overload
    def call(self, function: Callable[..., T], *args: Any) -> T: ...

    def call(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run ``function(*args)`` in the loop, in a copy of this thread's context, and
        await what it returns if it is awaitable (as anyio's ``BlockingPortal.call``)."""
        loop = self.loop
        if self.borrow():
            try:
                return self._call_here(loop, function, args)
            finally:
                self.give_back()
        if self._borrowable:
            running = asyncio._get_running_loop()
            if running is loop:
                self._refuse_own_thread(function)
            if running is None and not trio_runs_here():
                # The pump has the loop: this call crosses, the next one borrows it.
                try:
                    return self._call_across(loop, function, args)
                finally:
                    self._ask_for_the_loop(loop)
        elif threading.get_ident() == self.thread_id:
            self._refuse_own_thread(function)
        return self._call_across(loop, function, args)

    def borrow(self) -> bool:
        """Take the loop for this thread, if nobody runs it and this thread runs no loop
        of its own: ``True`` if it is this thread's now (to run, or to touch what lives
        in it) until :meth:`give_back`.  A thread may borrow it again meanwhile."""
        if not self._borrowable or asyncio._get_running_loop() is not None or trio_runs_here():
            return False  # this thread runs a loop of its own: it cannot run another
        me = threading.get_ident()
        with self._lock:
            if self._runner is _Runner.CALLER and self._holder == me:
                self._depth += 1
                return True
            if self._runner is not _Runner.NOBODY:
                return False
            self._runner, self._holder, self._depth = _Runner.CALLER, me, 1
        return True

    def give_back(self) -> None:
        """End a :meth:`borrow`: the loop is parked, and the pump takes it once idle."""
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self._runner, self._holder = _Runner.NOBODY, None
                self._parked_at = time.monotonic()

    def _call_here(self, loop: Loop, function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Run the call in this thread, which has borrowed the loop: it runs here until
        the call is done."""
        assert isinstance(loop, asyncio.AbstractEventLoop)
        task = context_for("asyncio").run(loop.create_task, _stopping(loop, function, args))
        try:
            while not task.done():
                loop.run_forever()  # the call stops it as it ends: no turn for a callback
        except BaseException:
            task.cancel()  # an interrupt: the call stops too, once the loop runs
            raise
        return task.result()

    def _call_across(self, loop: Loop, function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        """Run the call in the thread that runs the loop, and wait for it here."""
        done = threading.Lock()
        done.acquire()
        outcome: list[Any] = []

        async def run() -> None:
            try:
                outcome.append((True, await _result(function, args)))
            except BaseException as error:  # taken back to the caller's thread
                outcome.append((False, error))
            finally:
                if self._borrowable:
                    with self._lock:
                        self._across -= 1
                done.release()  # at once: no done-callback, one loop iteration less

        tasks: list[Any] = []
        context = context_for(self.library)
        if self._borrowable:
            with self._lock:
                self._across += 1
                if self._runner is _Runner.NOBODY:
                    self._pump_locked()  # nobody runs the loop: the pump must
        loop.call_soon_threadsafe(lambda: tasks.append(context.run(loop.create_task, run())))
        try:
            done.acquire()
        except BaseException:  # an interrupt while waiting: stop the call too
            loop.call_soon_threadsafe(lambda: [task.cancel() for task in tasks])
            raise
        succeeded, value = outcome[0]
        if succeeded:
            return value
        raise value

    def _ask_for_the_loop(self, loop: Loop) -> None:
        """A caller that could borrow the loop found the pump running it: ask the pump to
        park it, so that the next call runs in the caller's thread again."""
        assert isinstance(loop, asyncio.AbstractEventLoop)
        with self._lock:
            if self._runner is not _Runner.PUMP or self._yield_asked:
                return
            self._yield_asked = True
        loop.call_soon_threadsafe(loop.stop)

    def post(self, function: Callable[..., Coroutine[Any, Any, object]], *args: Any) -> None:
        """Start ``function(*args)`` in the loop and return at once; calls run in order."""
        loop = self.loop
        coroutine = function(*args)
        context = context_for(self.library)
        loop.call_soon_threadsafe(context.run, loop.create_task, coroutine)

    def call_soon(self, callback: Callable[..., object], *args: Any) -> None:
        """Call ``callback(*args)`` in the loop and return at once; in order with
        :meth:`call` and :meth:`post`.  No task, no context: the cheapest hand-over."""
        self.loop.call_soon_threadsafe(callback, *args)

    @staticmethod
    def _refuse_own_thread(function: Callable[..., object]) -> None:
        name = getattr(function, "__qualname__", repr(function))
        raise RuntimeError(
            f"a blocking call ({name}) from inside the portal's own loop would wait for "
            "itself: probably the app, or a task it started, called the sync API. "
            "Instead, await the async API there"
        )

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


async def _stopping(
    loop: asyncio.AbstractEventLoop, function: Callable[..., Any], args: Any
) -> Any:
    """The call's result, stopping the loop as it ends: ``run_forever()`` returns after
    this very turn, where ``run_until_complete()`` takes one more for its callback."""
    try:
        return await _result(function, args)
    finally:
        loop.stop()


async def _result(function: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    result = function(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def _cancel_the_others() -> None:
    others = asyncio.all_tasks() - {asyncio.current_task()}
    for task in others:
        task.cancel()
    if others:
        await asyncio.wait(others, timeout=5.0)


class _Watchdog:
    """One thread for every portal: it hands a loop parked for :data:`IDLE` seconds to
    its pump, so that apps run on between a test's calls."""

    def __init__(self) -> None:
        self._portals: weakref.WeakSet[Portal] = weakref.WeakSet()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, portal: Portal) -> None:
        with self._changed:
            self._portals.add(portal)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="yaat_testing watchdog", daemon=True
                )
                self._thread.start()
            self._changed.notify()

    def forget(self, portal: Portal) -> None:
        with self._changed:
            self._portals.discard(portal)

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._portals:
                    self._changed.wait()
                portals = list(self._portals)
            now = time.monotonic()
            for portal in portals:
                portal._pump_if_idle(now)
            del portals
            time.sleep(IDLE)


_WATCHDOG = _Watchdog()
