"""yaat_testing.portal: calls run where the caller waits, the pump runs the loop between."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time

import pytest
import trio
import trio.lowlevel

from tests.apps.waiting import until_cancelled
from yaat_testing.loops import running_loop
from yaat_testing.portal import IDLE, Portal

caller = contextvars.ContextVar("caller", default="unset")


async def where() -> tuple[str, str]:
    running_loop()  # the call runs inside the portal's loop
    return threading.current_thread().name, caller.get()


def _portal_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "yaat_testing portal"]


def test_a_plain_caller_borrows_the_loop_and_its_context_goes_along() -> None:
    token = caller.set("the test")
    try:
        with Portal() as portal:
            assert portal.call(where) == (threading.current_thread().name, "the test")
            assert portal.call(len, "four") == 4  # a plain function runs in the loop too
            assert not portal.runs_elsewhere
            assert _portal_threads() == []
    finally:
        caller.reset(token)


def test_errors_come_back_with_their_traceback() -> None:
    async def fails() -> None:
        raise KeyError("inside")

    with Portal() as portal, pytest.raises(KeyError, match="inside") as raised:
        portal.call(fails)
    assert raised.traceback[-1].name == "fails"


def test_the_pump_runs_the_loop_between_calls_and_hands_it_back() -> None:
    with Portal() as portal:
        ticks: list[str] = []

        async def tick() -> None:
            while True:
                ticks.append(threading.current_thread().name)
                await asyncio.sleep(0.005)

        portal.post(tick)
        deadline = time.monotonic() + 2
        while not portal.runs_elsewhere and time.monotonic() < deadline:
            time.sleep(IDLE)
        assert portal.runs_elsewhere  # parked for IDLE seconds: the pump took it
        time.sleep(0.05)
        assert "yaat_testing portal" in ticks  # ran on while this thread slept
        assert portal.call(where)[0] == "yaat_testing portal"  # crosses, and asks for it back
        deadline = time.monotonic() + 2
        while portal.runs_elsewhere and time.monotonic() < deadline:
            time.sleep(0.0001)
        assert portal.call(where)[0] == threading.current_thread().name  # borrowed again
    assert _portal_threads() == []


async def test_a_caller_that_runs_a_loop_crosses_to_the_pump() -> None:
    with Portal() as portal:
        assert portal.call(where)[0] == "yaat_testing portal"
        assert portal.runs_elsewhere
        order: list[str] = []
        portal.call_soon(order.append, "first")
        portal.call(asyncio.sleep, 0)
        assert order == ["first"]  # in order with the calls after it


def test_a_call_from_inside_the_loop_is_refused() -> None:
    with Portal() as portal:

        async def nested() -> None:
            portal.call(asyncio.sleep, 0)

        with pytest.raises(RuntimeError, match=r"from inside the portal's own loop .* Instead"):
            portal.call(nested)


def test_stopping_cancels_what_still_runs() -> None:
    cancelled, forever = until_cancelled()

    with Portal() as portal:
        portal.post(forever)
        portal.call(asyncio.sleep, 0)
    assert cancelled.is_set()
    with pytest.raises(RuntimeError, match="the portal is not running"):
        portal.call(asyncio.sleep, 0)


def test_trio_runs_in_a_thread_of_its_own() -> None:
    async def on_trio() -> str:
        await trio.lowlevel.checkpoint()
        return threading.current_thread().name

    with Portal("trio") as portal:
        assert portal.call(on_trio) == "yaat_testing portal"
        assert portal.runs_elsewhere
        with pytest.raises(KeyError, match="raised"):
            portal.call(dict().__getitem__, "raised")
    assert _portal_threads() == []


def test_attach_calls_into_a_loop_another_thread_runs() -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="someone else's loop")
    thread.start()
    try:
        portal = Portal.attach(loop, thread.ident or 0)
        assert portal.call(where)[0] == "someone else's loop"
        portal.stop()  # forgets the loop, which runs on
        assert loop.is_running()
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match=r"backend must be 'asyncio' or 'trio', got 'curio'"):
        Portal("curio")  # type: ignore[arg-type]
