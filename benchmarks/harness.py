"""In-memory WebSocket harnesses on a raw ASGI echo app: round trip, session, idle CPU, memory.

    python benchmarks/harness.py [--rounds 7] [--quick]

Every peer and the floor (two coroutines ping-ponging over asyncio.Queue) are measured
in the same run, interleaved, and reported as medians with ratios to the floor.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import resource
import sys
import time
import tracemalloc
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
warnings.simplefilter("ignore")

from timing import CHARTS, bar_chart, interleave, median, report  # noqa: E402

from yaat_testing import TestClient  # noqa: E402


async def echo(scope: Any, receive: Any, send: Any) -> None:
    """The app every harness drives: accept, say hello, echo until the client leaves."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            await send({"type": message["type"] + ".complete"})
            if message["type"] == "lifespan.shutdown":
                return
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.send", "text": "hello"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        await send({"type": "websocket.send", "text": message.get("text")})


def falcon_echo() -> Any:
    """The same echo as a Falcon app: simulate_ws drives Falcon apps only."""
    import falcon.asgi

    class Echo:
        async def on_websocket(self, req: Any, ws: Any) -> None:
            await ws.accept()
            await ws.send_text("hello")
            try:
                while True:
                    await ws.send_text(await ws.receive_text())
            except falcon.WebSocketDisconnected:
                pass

    app = falcon.asgi.App()
    app.add_route("/", Echo())
    return app


async def timed_round_trips(ws: Any, n: int) -> float:
    """Seconds per send_text + receive_text on an open session (after its greeting)."""
    await ws.receive_text()
    start = time.perf_counter()
    for _ in range(n):
        await ws.send_text("ping")
        await ws.receive_text()
    return (time.perf_counter() - start) / n


async def timed_sessions(connect: Callable[[], Any], n: int) -> float:
    """Seconds per session: ``async with connect() as ws``, one message, close."""
    start = time.perf_counter()
    for _ in range(n):
        async with connect() as ws:
            await ws.receive_text()
    return (time.perf_counter() - start) / n


# -- round trips: each returns seconds per (send_text, receive_text) --------------------


def floor_round_trip(n: int) -> float:
    async def run() -> float:
        to_app: asyncio.Queue[str] = asyncio.Queue()
        to_client: asyncio.Queue[str] = asyncio.Queue()

        async def app() -> None:
            while (message := await to_app.get()) != "bye":
                await to_client.put(message)

        task = asyncio.create_task(app())
        start = time.perf_counter()
        for _ in range(n):
            await to_app.put("ping")
            await to_client.get()
        elapsed = time.perf_counter() - start
        await to_app.put("bye")
        await task
        return elapsed / n

    return asyncio.run(run())


def yaat_round_trip(n: int) -> float:
    async def run() -> float:
        async with TestClient(echo) as client, client.websocket_connect("/") as ws:
            return await timed_round_trips(ws, n)

    return asyncio.run(run())


def async_asgi_testclient_round_trip(n: int) -> float:
    from async_asgi_testclient import TestClient as Client

    async def run() -> float:
        async with Client(echo) as client, client.websocket_connect("/") as ws:
            return await timed_round_trips(ws, n)

    return asyncio.run(run())


def asgiref_round_trip(n: int) -> float:
    from asgiref.testing import ApplicationCommunicator

    async def run() -> float:
        communicator = ApplicationCommunicator(
            echo, {"type": "websocket", "path": "/", "headers": []}
        )
        await communicator.send_input({"type": "websocket.connect"})
        await communicator.receive_output()
        await communicator.receive_output()
        start = time.perf_counter()
        for _ in range(n):
            await communicator.send_input({"type": "websocket.receive", "text": "ping"})
            await communicator.receive_output()
        elapsed = time.perf_counter() - start
        await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
        await communicator.wait()
        return elapsed / n

    return asyncio.run(run())


def httpx_ws_round_trip(n: int) -> float:
    import httpx
    from httpx_ws import aconnect_ws
    from httpx_ws.transport import ASGIWebSocketTransport

    async def run() -> float:
        async with (
            httpx.AsyncClient(
                transport=ASGIWebSocketTransport(echo), base_url="http://t"
            ) as client,
            aconnect_ws("/", client) as ws,
        ):
            return await timed_round_trips(ws, n)

    return asyncio.run(run())


def blocking_round_trip(make_client: Callable[[], Any]) -> Callable[[int], float]:
    """Round trips through a blocking client: Starlette's, yaat_testing's sync API, ..."""

    def run(n: int) -> float:
        with make_client() as client, client.websocket_connect("/") as ws:
            ws.receive_text()
            start = time.perf_counter()
            for _ in range(n):
                ws.send_text("ping")
                ws.receive_text()
            return (time.perf_counter() - start) / n

    return run


def starlette_client() -> Any:
    from starlette.testclient import TestClient as Client

    return Client(echo)


def yaat_starlette_client() -> Any:
    from yaat_testing.starlette import TestClient as Client

    return Client(echo)


def falcon_round_trip(n: int) -> float:
    from falcon import testing

    async def run() -> float:
        async with (
            testing.ASGIConductor(falcon_echo()) as conductor,
            conductor.simulate_ws("/") as ws,
        ):
            return await timed_round_trips(ws, n)

    return asyncio.run(run())


# -- sessions: connect, receive one message, close ---------------------------------------


def floor_session(n: int) -> float:
    async def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            to_app: asyncio.Queue[str] = asyncio.Queue()
            to_client: asyncio.Queue[str] = asyncio.Queue()

            async def app(
                to_app: asyncio.Queue[str] = to_app, to_client: asyncio.Queue[str] = to_client
            ) -> None:
                await to_app.get()  # connect
                await to_client.put("hello")
                await to_app.get()  # disconnect

            task = asyncio.create_task(app())
            await to_app.put("connect")
            await to_client.get()
            await to_app.put("disconnect")
            await task
        return (time.perf_counter() - start) / n

    return asyncio.run(run())


def yaat_session(n: int) -> float:
    async def run() -> float:
        async with TestClient(echo) as client:
            return await timed_sessions(lambda: client.websocket_connect("/"), n)

    return asyncio.run(run())


def async_asgi_testclient_session(n: int) -> float:
    from async_asgi_testclient import TestClient as Client

    async def run() -> float:
        async with Client(echo) as client:
            return await timed_sessions(lambda: client.websocket_connect("/"), n)

    return asyncio.run(run())


def asgiref_session(n: int) -> float:
    from asgiref.testing import ApplicationCommunicator

    async def run() -> float:
        start = time.perf_counter()
        for _ in range(n):
            communicator = ApplicationCommunicator(
                echo, {"type": "websocket", "path": "/", "headers": []}
            )
            await communicator.send_input({"type": "websocket.connect"})
            await communicator.receive_output()
            await communicator.receive_output()
            await communicator.send_input({"type": "websocket.disconnect", "code": 1000})
            await communicator.wait()
        return (time.perf_counter() - start) / n

    return asyncio.run(run())


def httpx_ws_session(n: int) -> float:
    import httpx
    from httpx_ws import aconnect_ws
    from httpx_ws.transport import ASGIWebSocketTransport

    async def run() -> float:
        async with httpx.AsyncClient(
            transport=ASGIWebSocketTransport(echo), base_url="http://t"
        ) as client:
            start = time.perf_counter()
            for _ in range(n):
                async with aconnect_ws("/", client) as ws:
                    await ws.receive_text()
            return (time.perf_counter() - start) / n

    return asyncio.run(run())


def blocking_session(make_client: Callable[[], Any]) -> Callable[[int], float]:
    """Sessions through a blocking client, inside its ``with``."""

    def run(n: int) -> float:
        with make_client() as client:
            start = time.perf_counter()
            for _ in range(n):
                with client.websocket_connect("/") as ws:
                    ws.receive_text()
            return (time.perf_counter() - start) / n

    return run


def falcon_session(n: int) -> float:
    from falcon import testing

    async def run() -> float:
        async with testing.ASGIConductor(falcon_echo()) as conductor:
            return await timed_sessions(lambda: conductor.simulate_ws("/"), n)

    return asyncio.run(run())


# -- idle CPU and memory -------------------------------------------------------------------


def idle_cpu(peer: str) -> float:
    """CPU seconds the process uses while one session waits idle for one second."""

    async def with_session(open_session: Callable[[], Any]) -> float:
        async with open_session() as ws:
            await ws.receive_text()
            start = time.process_time()
            await asyncio.sleep(1.0)
            return time.process_time() - start

    if peer == "yaat_testing":

        async def run() -> float:
            async with TestClient(echo) as client:
                return await with_session(lambda: client.websocket_connect("/"))

        return asyncio.run(run())
    if peer == "falcon simulate_ws":
        from falcon import testing

        async def run_falcon() -> float:
            async with testing.ASGIConductor(falcon_echo()) as conductor:
                return await with_session(lambda: conductor.simulate_ws("/"))

        return asyncio.run(run_falcon())
    if peer == "Starlette TestClient":
        from starlette.testclient import TestClient as Client

        with Client(echo) as client, client.websocket_connect("/") as ws:
            ws.receive_text()
            start = time.process_time()
            time.sleep(1.0)
            return time.process_time() - start
    raise ValueError(peer)


def memory_per_session(sessions: int) -> dict[str, float]:
    """Bytes allocated per idle open session (tracemalloc), yaat_testing and the floor."""

    async def yaat() -> int:
        async with TestClient(echo) as client:
            gc.collect()
            tracemalloc.start()
            before = tracemalloc.get_traced_memory()[0]
            contexts = [client.websocket_connect("/") for _ in range(sessions)]
            opened = [await c.__aenter__() for c in contexts]
            after = tracemalloc.get_traced_memory()[0]
            tracemalloc.stop()
            for ws in opened:
                await ws.receive_text()
            for c in contexts:
                await c.__aexit__(None, None, None)
            return after - before

    async def floor() -> int:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        pairs = []
        for _ in range(sessions):
            to_app: asyncio.Queue[str] = asyncio.Queue()
            to_client: asyncio.Queue[str] = asyncio.Queue()

            async def app(to_app: asyncio.Queue[str] = to_app) -> None:
                await to_app.get()

            pairs.append((asyncio.create_task(app()), to_app, to_client))
        await asyncio.sleep(0)
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        for task, to_app, _ in pairs:
            to_app.put_nowait("bye")
            await task
        return after - before

    return {
        "yaat_testing": asyncio.run(yaat()) / sessions,
        "floor": asyncio.run(floor()) / sessions,
    }


PEERS: dict[str, tuple[Callable[[int], float], Callable[[int], float]]] = {
    "floor (asyncio.Queue ping-pong)": (floor_round_trip, floor_session),
    "yaat_testing": (yaat_round_trip, yaat_session),
    "async-asgi-testclient": (async_asgi_testclient_round_trip, async_asgi_testclient_session),
    "asgiref ApplicationCommunicator": (asgiref_round_trip, asgiref_session),
    "httpx-ws": (httpx_ws_round_trip, httpx_ws_session),
    "yaat_testing sync API": (
        blocking_round_trip(lambda: TestClient(echo)),
        blocking_session(lambda: TestClient(echo)),
    ),
    "yaat_testing.starlette drop-in": (
        blocking_round_trip(yaat_starlette_client),
        blocking_session(yaat_starlette_client),
    ),
    "Starlette TestClient": (
        blocking_round_trip(starlette_client),
        blocking_session(starlette_client),
    ),
    "falcon simulate_ws": (falcon_round_trip, falcon_session),
}
FLOOR = "floor (asyncio.Queue ping-pong)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="fewer operations per round")
    args = parser.parse_args()
    trips, sessions = (500, 100) if args.quick else (3000, 400)
    # Thread hops or spinning: fewer operations per round.
    slow = {
        "Starlette TestClient",
        "falcon simulate_ws",
        "yaat_testing sync API",
        "yaat_testing.starlette drop-in",
    }

    round_trips = interleave(
        {
            name: (lambda f=f, name=name: f(trips // 10 if name in slow else trips))
            for name, (f, _) in PEERS.items()
        },
        args.rounds,
    )
    print(
        report(
            f"Text round trip (send_text + receive_text), {trips} per round, {args.rounds} rounds",
            round_trips,
            FLOOR,
        )
    )
    session_times = interleave(
        {
            name: (lambda f=f, name=name: f(sessions // 10 if name in slow else sessions))
            for name, (_, f) in PEERS.items()
        },
        args.rounds,
    )
    print()
    print(
        report(
            f"Session (connect, receive one message, close), {sessions} per round",
            session_times,
            FLOOR,
        )
    )

    print("\n## CPU used while one session waits idle for 1 s (median of 3)\n")
    for peer in ("yaat_testing", "Starlette TestClient", "falcon simulate_ws"):
        print(f"- {peer}: {median([idle_cpu(peer) for _ in range(3)]) * 1000:.1f} ms of CPU")

    count = 10_000
    memory = memory_per_session(count)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\n## Memory for {count:,} concurrent idle sessions\n")
    for name, size in memory.items():
        print(
            f"- {name}: {size / 1024:.1f} KiB per session ({size * count / 2**20:.0f} MiB in all)"
        )
    print(f"- peak RSS of this process: {rss / 1024:.0f} MiB")

    trip_floor = median(round_trips[FLOOR])
    ours_trip = median(round_trips["yaat_testing"]) / trip_floor
    peers = [n for n in PEERS if n != FLOOR and "yaat_testing" not in n]
    fastest = min(peers, key=lambda name: median(session_times[name]))
    over_fastest = median(session_times["yaat_testing"]) / median(session_times[fastest])
    print("\n## Targets (issue 17)\n")
    print(f"- round trip ≤ 1.3× floor: {ours_trip:.2f}× {'met' if ours_trip <= 1.3 else 'NOT met'}")
    print(
        f"- session ≤ the fastest peer's ({fastest}): {over_fastest:.2f}× "
        f"{'met' if over_fastest <= 1.0 else 'NOT met'}"
    )
    for ours, goal in (("yaat_testing sync API", 10), ("yaat_testing.starlette drop-in", 5)):
        for label, results in (("round trip", round_trips), ("session", session_times)):
            faster = median(results["Starlette TestClient"]) / median(results[ours])
            over_async = median(results[ours]) / median(results["yaat_testing"])
            print(
                f"- {ours}, {label}: {faster:.1f}× faster than Starlette's TestClient "
                f"(goal ≥ {goal}: {'met' if faster >= goal else 'NOT met'}), "
                f"{over_async:.1f}× the async API's time"
            )

    bar_chart(
        CHARTS / "harness-round-trip.png", "Text round trip, in-memory harnesses", round_trips
    )
    bar_chart(CHARTS / "harness-session.png", "Session: connect, one message, close", session_times)
    print("\ncharts: docs/img/harness-round-trip.png, docs/img/harness-session.png")


if __name__ == "__main__":
    main()
