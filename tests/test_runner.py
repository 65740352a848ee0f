"""yaat_testing.runner: one app run, its failure, and a bounded end."""

from __future__ import annotations

import asyncio

import pytest

from yaat.types import Receive, Scope, Send
from yaat_testing.channel import Channel
from yaat_testing.runner import AppRunner


class Boom(Exception):
    pass


async def nothing() -> dict[str, str]:
    return {}


async def ignore(message: object) -> None:
    return None


def app_that(action: str) -> object:
    async def app(scope: Scope, receive: Receive, send: Send) -> object:
        if action == "raise":
            raise Boom("the app's own")
        if action == "oserror":
            raise ConnectionResetError("the client is gone")
        if action == "hang":
            await asyncio.sleep(3600)
        return 42 if action == "return a value" else None

    return app


async def test_an_app_that_returns_ends_with_its_result() -> None:
    ends: list[AppRunner] = []
    runner = AppRunner(on_end=ends.append)
    runner.start(app_that("return a value"), {}, nothing, ignore)  # type: ignore[arg-type]
    assert await runner.wait(1.0)
    assert (runner.ended, runner.result, runner.error, ends) == (True, 42, None, [runner])
    assert runner.task is not None
    assert runner.task.done()


async def test_what_the_app_raises_is_kept_unless_expected() -> None:
    runner = AppRunner()
    runner.start(app_that("raise"), {}, nothing, ignore)  # type: ignore[arg-type]
    assert await runner.wait(1.0)
    assert isinstance(runner.error, Boom)
    expected = AppRunner(expected=(OSError,))
    expected.start(app_that("oserror"), {}, nothing, ignore)  # type: ignore[arg-type]
    assert await expected.wait(1.0)
    assert expected.error is None


async def test_an_app_that_never_ends_is_cancelled_after_the_timeout() -> None:
    loop = asyncio.get_running_loop()
    runner = AppRunner(channel=Channel(loop))
    runner.start(app_that("hang"), {}, nothing, ignore)  # type: ignore[arg-type]
    started = loop.time()
    assert not await runner.wait(0.05)
    assert loop.time() - started < 1.0
    assert runner.ended
    assert runner.error is None
    assert runner.task is not None
    assert runner.task.cancelled() is False
    assert runner.task.done()


async def test_an_app_that_is_not_cancelled_after_the_timeout_runs_on() -> None:
    runner = AppRunner(channel=Channel(asyncio.get_running_loop()))
    runner.start(app_that("hang"), {}, nothing, ignore)  # type: ignore[arg-type]
    assert not await runner.wait(0.05, cancel=False)
    assert not runner.ended
    assert runner.task is not None
    assert not runner.task.done()
    await runner.cancel(1.0)
    assert runner.ended


async def test_run_in_the_current_task_keeps_and_propagates() -> None:
    runner = AppRunner()
    with pytest.raises(Boom, match="the app's own"):
        await runner.run(app_that("raise"), {}, nothing, ignore)  # type: ignore[arg-type]
    assert isinstance(runner.error, Boom)
    assert runner.task is asyncio.current_task()
