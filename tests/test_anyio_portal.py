"""yaat_testing.anyio_portal: anyio's BlockingPortal API, which Starlette's client calls."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.apps.waiting import until_cancelled
from yaat_testing.anyio_portal import AnyioPortal, TaskStatus
from yaat_testing.loops import current_task
from yaat_testing.portal import Portal


@pytest.fixture
def portal() -> Any:
    with Portal() as running:
        yield AnyioPortal(running)


def test_call_and_start_task_soon(portal: AnyioPortal) -> None:
    assert portal.call(asyncio.sleep, 0, "slept") == "slept"
    assert portal.start_task_soon(asyncio.sleep, 0, "later").result(timeout=2) == "later"

    async def fails() -> None:
        raise KeyError("in the task")

    with pytest.raises(KeyError, match="in the task"):
        portal.start_task_soon(fails).result(timeout=2)


def test_cancelling_the_future_cancels_the_task(portal: AnyioPortal) -> None:
    cancelled, forever = until_cancelled()

    future = portal.start_task_soon(forever)
    portal.call(asyncio.sleep, 0)  # it runs
    assert future.cancel()
    portal.call(asyncio.sleep, 0.01)
    assert cancelled.is_set()


def test_start_task_waits_for_started(portal: AnyioPortal) -> None:
    async def ready(value: str, *, task_status: TaskStatus) -> str:
        task_status.started(value)
        with pytest.raises(RuntimeError, match="called twice"):
            task_status.started()
        await asyncio.sleep(0)
        return "done"

    future, value = portal.start_task(ready, "ready")
    assert value == "ready"
    assert portal.call(asyncio.sleep, 0.01) is None
    assert future.result(timeout=2) == "done"

    async def never_ready(*, task_status: TaskStatus) -> None:
        return None

    with pytest.raises(RuntimeError, match=r"without calling task_status\.started"):
        portal.start_task(never_ready)

    async def fails_first(*, task_status: TaskStatus) -> None:
        raise KeyError("before started")

    with pytest.raises(KeyError, match="before started"):
        portal.start_task(fails_first)


def test_an_async_context_manager_enters_and_exits_in_one_task(portal: AnyioPortal) -> None:
    tasks: list[object] = []

    @contextlib.asynccontextmanager
    async def held() -> AsyncIterator[str]:
        tasks.append(current_task())
        try:
            yield "inside"
        except KeyError:
            tasks.append("swallowed")
        finally:
            tasks.append(current_task())

    with portal.wrap_async_context_manager(held()) as value:
        assert value == "inside"
    assert tasks[0] is tasks[1]
    with portal.wrap_async_context_manager(held()):
        raise KeyError("swallowed by the context manager")
    assert tasks[-2] == "swallowed"

    @contextlib.asynccontextmanager
    async def failing_exit() -> AsyncIterator[None]:
        yield
        raise ValueError("on exit")

    with pytest.raises(ValueError, match="on exit"):
        with portal.wrap_async_context_manager(failing_exit()):
            pass


def test_stop_stops_the_portal(portal: AnyioPortal) -> None:
    portal.stop()
    with pytest.raises(RuntimeError, match="not running"):
        portal.call(asyncio.sleep, 0)
