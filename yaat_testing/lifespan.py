"""The app's lifespan in memory, run as uvicorn runs it in its "auto" and "on" modes.

Example::

    lifespan = Lifespan(app, state={}, timeout=5.0, mode="auto")
    await lifespan.startup()   # LifespanFailed if the app says so
    await lifespan.shutdown()
"""

from __future__ import annotations

from typing import Any, Literal

from yaat.types import ASGIApp, Message
from yaat_testing.channel import Channel
from yaat_testing.exceptions import LifespanFailed, WebSocketTimeout
from yaat_testing.loops import Loop, running_loop
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
        self._loop: Loop | None = None
        self._to_app: Channel | None = None
        self._from_app: Channel | None = None
        self._phase = "startup"
        self._running = False

    async def startup(self) -> None:
        """Start the app's lifespan and wait for ``lifespan.startup.complete``."""
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        loop = self._loop = running_loop()
        self._to_app = Channel(loop)
        self._from_app = Channel(loop, self._to_app.alarm)
        self.runner = AppRunner(channel=self._from_app)  # the app's end wakes _reply()
        self.runner.start(self.app, scope, self._receive, self._send)
        self._running = True
        await self._phase_of("startup")

    async def shutdown(self) -> None:
        """Ask the app to shut down and wait for ``lifespan.shutdown.complete``."""
        if self._running:
            await self._phase_of("shutdown")

    async def _phase_of(self, phase: str) -> None:
        self._phase = phase
        assert self._to_app is not None
        self._to_app.put({"type": f"lifespan.{phase}"})
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
        loop, channel = self._loop, self._from_app
        assert loop is not None
        assert channel is not None
        deadline = loop.time() + self.timeout
        while not channel.items:
            if self.runner.ended:
                return None
            if loop.time() >= deadline:
                await self._stop()
                raise WebSocketTimeout(f"lifespan.{phase}.complete", self.timeout)
            await channel.wait(deadline)
        reply: Message = channel.items.popleft()
        return reply

    async def _receive(self) -> Message:
        assert self._to_app is not None
        message: Message = await self._to_app.get(None)
        return message

    async def _send(self, message: Message) -> None:
        violation = check_lifespan_send(self._phase, message)
        if violation is not None:  # every server raises here, strict or not
            raise violation.error()
        assert self._from_app is not None
        self._from_app.put(message)

    async def _stop(self) -> None:
        self._running = False
        await self.runner.cancel(self.timeout)
        if self._to_app is not None:
            self._to_app.close()  # and with it the timer both channels share
