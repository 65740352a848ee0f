"""yaat_testing.defaults: what a TestClient takes from the test that runs it."""

from __future__ import annotations

import asyncio

from yaat_testing import TestClient, defaults


async def noop(scope: object, receive: object, send: object) -> None:
    return None


def test_outside_pytest_the_constructor_decides() -> None:
    with defaults.applied(defaults.Defaults(live=False)):
        assert not TestClient(noop).live
        assert TestClient(noop, live=True).live


def test_applied_defaults_reach_clients_and_tasks_and_are_restored() -> None:
    before = defaults.current()
    with defaults.applied(defaults.Defaults(live=True)):
        assert TestClient(noop).live
        assert TestClient(noop, live=False).live is False

        async def in_a_task() -> bool:
            return defaults.current().live

        assert asyncio.run(in_a_task())
    assert defaults.current() is before
