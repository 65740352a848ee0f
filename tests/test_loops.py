"""yaat_testing.loops: asyncio's loop, or TrioLoop, and the harness on trio end to end.

The trio tests are plain ``def`` tests that call ``trio.run``: they run on trio whatever
plugin handles the suite's async tests.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

import pytest
import trio
import trio.lowlevel

from yaat import Yaat
from yaat.websockets import WebSocket, WebSocketDisconnect
from yaat_testing import (
    ASGIProtocolError,
    ConcurrentReceiveError,
    LiveModeUnavailable,
    TestClient,
    WebSocketDenied,
    WebSocketTimeout,
)
from yaat_testing.loops import (
    NoEventLoop,
    TrioFuture,
    TrioLoop,
    call_at_next_poll,
    current_task,
    is_cancellation,
    one_turn,
    running_loop,
)

who = contextvars.ContextVar("who", default="nobody")


async def test_on_asyncio_the_loop_is_asyncios_own() -> None:
    loop = running_loop()
    assert loop is asyncio.get_running_loop()
    assert current_task() is asyncio.current_task()
    await one_turn(loop)


def test_outside_any_loop_the_error_says_what_to_do() -> None:
    with pytest.raises(NoEventLoop, match=r"runs in neither: probably .* Instead, await it"):
        running_loop()


def test_on_trio_one_loop_per_run() -> None:
    async def main() -> tuple[object, object, object]:
        first, second = running_loop(), running_loop()
        await one_turn(first)
        return first, second, current_task()

    first, second, task = trio.run(main)
    assert isinstance(first, TrioLoop)
    assert first is second
    assert task is not None
    assert trio.run(main)[0] is not first  # a new run, a new loop


def test_trio_futures_wake_their_waiters_and_cancelled_waits_mark_them() -> None:
    async def main() -> list[object]:
        loop = running_loop()
        woken = loop.create_future()
        loop.call_soon(woken.set_result, "a")
        seen: list[object] = [await woken, woken.done(), woken.result()]
        abandoned = TrioFuture()
        with trio.move_on_after(0.01):
            await abandoned
        seen += [abandoned.done(), abandoned.cancelled()]
        with pytest.raises(asyncio.InvalidStateError, match="cancelled"):
            await abandoned
        with pytest.raises(asyncio.InvalidStateError, match="no result"):
            abandoned.result()
        with pytest.raises(asyncio.InvalidStateError, match="done already"):
            woken.set_result("again")
        return seen

    assert trio.run(main) == ["a", True, "a", True, True]


def test_trio_tasks_keep_the_context_their_result_and_what_they_raised() -> None:
    async def main() -> list[object]:
        loop = running_loop()
        who.set("creator")

        async def value() -> str:
            return who.get()

        async def failing() -> None:
            raise KeyError("inside")

        async def forever() -> None:
            await trio.sleep_forever()

        ended: list[str] = []
        good, bad, endless = (
            loop.create_task(value()),
            loop.create_task(failing()),
            loop.create_task(forever()),
        )
        good.add_done_callback(lambda task: ended.append("good"))
        seen: list[object] = [await good]
        with pytest.raises(KeyError, match="inside"):
            await bad
        assert endless.cancel()
        with pytest.raises(asyncio.CancelledError, match="cancelled"):
            await endless
        seen += [good.done(), bad.done(), endless.done(), endless.cancel(), ended]
        good.add_done_callback(lambda task: ended.append("late"))
        assert good.get_loop() is loop
        return seen

    assert trio.run(main) == ["creator", True, True, True, False, ["good", "late"]]


def test_trio_timers_fire_at_their_time_unless_cancelled() -> None:
    async def main() -> list[str]:
        loop = running_loop()
        fired: list[str] = []
        kept = loop.call_at(loop.time() + 0.01, fired.append, "kept")
        dropped = loop.call_at(loop.time() + 0.01, fired.append, "dropped")
        dropped.cancel()
        assert kept.when() > loop.time() - 1
        await trio.sleep(0.05)
        return fired

    assert trio.run(main) == ["kept"]


def test_cancellations_of_both_libraries_are_told_apart_from_errors() -> None:
    assert is_cancellation(asyncio.CancelledError())
    assert not is_cancellation(KeyError())

    async def main() -> bool:
        with trio.CancelScope() as scope:
            scope.cancel()
            try:
                await trio.sleep(1)
            except trio.Cancelled as cancelled:
                return is_cancellation(cancelled)
        return False

    assert trio.run(main)


# -- the harness on trio, end to end -------------------------------------------------------


def build_app() -> Yaat:
    app = Yaat(on_startup=[lambda: started.append(True)])

    @app.websocket_route("/echo")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(f"hello {who.get()}")
        while True:  # no iter_text(): trio wants an async generator closed, not dropped
            try:
                text = await websocket.receive_text()
            except WebSocketDisconnect:
                return
            await trio.lowlevel.checkpoint()  # the app may use trio itself
            if text == "boom":
                raise KeyError("boom")
            await websocket.send_text(f"echo {text}")

    @app.websocket_route("/deny")
    async def deny(websocket: WebSocket) -> None:
        await websocket.close(1008, "no")

    @app.websocket_route("/stubborn")
    async def stubborn(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            try:
                await websocket.receive_text()
            except WebSocketDisconnect:
                await trio.sleep_forever()  # ignores the disconnect

    return app


started: list[bool] = []


def on_trio(test: Any) -> Any:
    return trio.run(test)


def test_sessions_lifespan_and_contextvars_on_trio() -> None:
    async def main() -> list[str]:
        who.set("the test")
        async with TestClient(build_app(), timeout=0.5) as client:
            async with client.websocket_connect("/echo") as ws:
                seen = [await ws.receive_text()]
                await ws.send_text("hi")
                seen.append(await ws.receive_text())
                await ws.send_text("one")
                await ws.send_text("two")
                seen.append(await ws.receive_matching(lambda t: t.endswith("two"), decode="text"))
            return seen

    assert on_trio(main) == ["hello the test", "echo hi", "echo two"]
    assert started


def test_failures_denials_and_timeouts_on_trio() -> None:
    async def main() -> None:
        async with TestClient(build_app(), timeout=0.2) as client:
            with pytest.raises(KeyError, match="boom"):
                async with client.websocket_connect("/echo") as ws:
                    await ws.receive_text()
                    await ws.send_text("boom")
                    await ws.receive_text()
            with pytest.raises(WebSocketDenied, match="HTTP 403") as denied:
                async with client.websocket_connect("/deny"):
                    pass
            assert denied.value.close_code == 1008
            async with client.websocket_connect("/echo") as ws:
                await ws.receive_text()
                with pytest.raises(WebSocketTimeout, match=r"0\.05s waiting for a message"):
                    await ws.receive_text(timeout=0.05)
            with pytest.raises(WebSocketTimeout, match="the app to finish"):
                async with client.websocket_connect("/stubborn"):
                    pass

    on_trio(main)


def test_concurrent_receives_and_strictness_on_trio() -> None:
    async def early(scope: Any, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.send", "text": "too early"})

    async def main() -> None:
        async with TestClient(build_app(), timeout=0.5) as client:
            async with client.websocket_connect("/echo") as ws:
                await ws.receive_text()
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(ws.receive_text)
                    await trio.sleep(0.01)
                    with pytest.raises(ConcurrentReceiveError, match="still waiting"):
                        await ws.receive_text()
                    await ws.send_text("x")
        with pytest.raises(ASGIProtocolError, match=r"\[send-before-accept\]"):
            async with TestClient(early) as client, client.websocket_connect("/"):
                pass

    on_trio(main)


def test_flow_control_drops_and_shutdown_on_trio() -> None:
    async def main() -> list[object]:
        async with TestClient(build_app(), timeout=0.5) as client:
            async with client.websocket_connect("/echo") as ws:
                await ws.receive_text()
                ws.pause_reading(buffer=1)
                await ws.send_text("a")
                ws.resume_reading()
                seen: list[object] = [await ws.receive_text()]
                await ws.drop()
                seen.append(ws.close_code)
            async with client.websocket_connect("/echo") as ws:
                await ws.receive_text()
                await client.shutdown(grace=0.2)
                seen.append((await ws.receive_close()).code)
        return seen

    assert on_trio(main) == ["echo a", 1006, 1012]


def test_live_mode_needs_asyncio() -> None:
    async def main() -> None:
        async with TestClient(build_app(), live=True):
            pass

    with pytest.raises(LiveModeUnavailable, match=r"this test runs on trio: run it in memory"):
        on_trio(main)


def test_a_context_copied_for_another_library_says_which_one_runs_it() -> None:
    import sniffio

    from yaat_testing.loops import context_for

    token = sniffio.current_async_library_cvar.set("trio")  # as anyio's trio runner does
    try:
        assert context_for("asyncio").run(sniffio.current_async_library_cvar.get) == "asyncio"
        assert sniffio.current_async_library_cvar.get() == "trio"  # the caller's is kept
    finally:
        sniffio.current_async_library_cvar.reset(token)


async def test_call_at_next_poll_runs_behind_the_callbacks_already_due() -> None:
    loop = asyncio.get_running_loop()
    ran: list[str] = []
    call_at_next_poll(loop, ran.append, "at the poll")  # asked first ...
    loop.call_soon(ran.append, "soon")  # (a call_soon asked first would run first)
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert ran == ["soon", "at the poll"]  # ... and runs after, as a socket read would
