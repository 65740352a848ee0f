"""A coroutine that waits until it is cancelled, and says so: for portal tests."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any


def until_cancelled() -> tuple[threading.Event, Callable[[], Coroutine[Any, Any, None]]]:
    """An event, and a coroutine function that sleeps until cancelled, then sets it."""
    cancelled = threading.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    return cancelled, forever
