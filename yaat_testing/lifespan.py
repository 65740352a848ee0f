"""The app's lifespan in memory, run as uvicorn runs it in its "auto" and "on" modes.

Example::

    lifespan = Lifespan(app, state={}, timeout=5.0, mode="auto")
    await lifespan.startup()   # LifespanFailed if the app says so
    await lifespan.shutdown()
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from yaat.types import ASGIApp, Message
from yaat_testing.exceptions import LifespanFailed, WebSocketTimeout
from yaat_testing.rules import check_lifespan_send
from yaat_testing.runner import AppRunner

LifespanMode = Literal["auto", "on", "off"]
LIFESPAN_MODES: tuple[LifespanMode, ...] = ("auto", "on", "off")


class Lifespan:
    """One lifespan: startup, the app's state, then shutdown.

    In ``"auto"`` mode an app that raises or returns at once has no lifespan, and that
    is not an error; in ``"on"`` mode it is.  The app's state (``scope["state"]``) is
    *state*, which the transport copies into every connection's scope.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        state: dict[str, Any],
        timeout: float,
        mode: LifespanMode = "auto",
    ) -> None:
        self.app = app
        self.state = state
        self.timeout = timeout
        self.mode = mode
        self.runner = AppRunner()
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._phase = "startup"
        self._running = False

    async def startup(self) -> None:
        """Start the app's lifespan and wait for ``lifespan.startup.complete``."""
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self.runner.start(self.app, scope, self._to_app.get, self._send)
        self._running = True
        await self._phase_of("startup")

    async def shutdown(self) -> None:
        """Ask the app to shut down and wait for ``lifespan.shutdown.complete``."""
        if self._running:
            await self._phase_of("shutdown")

    async def _phase_of(self, phase: str) -> None:
        self._phase = phase
        await self._to_app.put({"type": f"lifespan.{phase}"})
        reply = await self._reply(phase)
        if reply is not None and reply["type"] == f"lifespan.{phase}.complete":
            if phase == "shutdown":
                await self._stop()
            return
        await self._stop()
        if reply is not None:  # lifespan.<phase>.failed
            raise LifespanFailed(phase, str(reply.get("message", ""))) from self.runner.error
        error = self.runner.error
        if error is None or (phase == "startup" and self.mode == "auto"):
            return  # an app that returns, or (in "auto") raises at once, has no lifespan
        raise LifespanFailed(phase, f"the app raised before lifespan.{phase}.complete") from error

    async def _reply(self, phase: str) -> Message | None:
        """The app's answer to *phase*, or ``None`` if the app ended first."""
        task = self.runner.task
        assert task is not None
        waiter = asyncio.ensure_future(self._from_app.get())
        done, _ = await asyncio.wait(
            {waiter, task}, timeout=self.timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if waiter in done:
            return waiter.result()
        waiter.cancel()
        await asyncio.wait({waiter})
        if done:
            return None
        await self._stop()
        raise WebSocketTimeout(f"lifespan.{phase}.complete", self.timeout)

    async def _send(self, message: Message) -> None:
        violation = check_lifespan_send(self._phase, message)
        if violation is not None:  # every server raises here, strict or not
            raise violation.error()
        await self._from_app.put(message)

    async def _stop(self) -> None:
        self._running = False
        await self.runner.cancel(self.timeout)
