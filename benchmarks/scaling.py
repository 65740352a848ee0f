"""How cost grows: round trip versus message size, session cost versus concurrent sessions.

    python benchmarks/scaling.py [--rounds 5]

Round trips carry bytes from 1 B to 8 MiB through yaat_testing and through the floor
(two coroutines over asyncio.Queue); nothing is copied, so the cost should stay flat.
Sessions are opened N at a time (1 to 10,000), each receiving one message, then closed.
Writes two PNG charts next to this file.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
warnings.simplefilter("ignore")

from harness import echo  # noqa: E402
from timing import CHARTS, interleave, line_chart, median  # noqa: E402

from yaat_testing import TestClient  # noqa: E402

SIZES = [1, 1024, 64 * 1024, 1024 * 1024, 8 * 1024 * 1024]
COUNTS = [1, 10, 100, 1000, 10_000]


async def bytes_echo(scope: dict, receive: object, send: object) -> None:  # type: ignore[type-arg]
    if scope["type"] != "websocket":
        return
    await receive()  # type: ignore[operator]
    await send({"type": "websocket.accept"})  # type: ignore[operator]
    while (message := await receive())["type"] == "websocket.receive":  # type: ignore[operator]
        await send({"type": "websocket.send", "bytes": message["bytes"]})  # type: ignore[operator]


def yaat_trip(size: int, n: int) -> float:
    payload = b"x" * size

    async def run() -> float:
        async with (
            TestClient(bytes_echo, lifespan="off") as client,
            client.websocket_connect("/") as ws,
        ):
            start = time.perf_counter()
            for _ in range(n):
                await ws.send_bytes(payload)
                await ws.receive_bytes()
            return (time.perf_counter() - start) / n

    return asyncio.run(run())


def floor_trip(size: int, n: int) -> float:
    payload = b"x" * size

    async def run() -> float:
        to_app: asyncio.Queue[bytes] = asyncio.Queue()
        to_client: asyncio.Queue[bytes] = asyncio.Queue()

        async def app() -> None:
            while (message := await to_app.get()) != b"":
                await to_client.put(message)

        task = asyncio.create_task(app())
        start = time.perf_counter()
        for _ in range(n):
            await to_app.put(payload)
            await to_client.get()
        elapsed = time.perf_counter() - start
        await to_app.put(b"")
        await task
        return elapsed / n

    return asyncio.run(run())


def concurrent_sessions(count: int) -> float:
    """Seconds per session when *count* sessions are open at once."""

    async def run() -> float:
        async with TestClient(echo) as client:
            start = time.perf_counter()
            contexts = [client.websocket_connect("/") for _ in range(count)]
            sessions = [await c.__aenter__() for c in contexts]
            for ws in sessions:
                await ws.receive_text()
            for c in contexts:
                await c.__aexit__(None, None, None)
            return (time.perf_counter() - start) / count

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    print("## Round trip versus message size (µs, medians)\n")
    print("| size | yaat_testing | floor | ratio |\n|---|---|---|---|")
    yaat_series, floor_series = [], []
    for size in SIZES:
        n = 2000 if size <= 65536 else 200
        results = interleave(
            {
                "yaat": lambda size=size, n=n: yaat_trip(size, n),
                "floor": lambda size=size, n=n: floor_trip(size, n),
            },
            args.rounds,
        )
        ours, floor = median(results["yaat"]), median(results["floor"])
        yaat_series.append(ours * 1e6)
        floor_series.append(floor * 1e6)
        print(f"| {size:,} B | {ours * 1e6:.2f} | {floor * 1e6:.2f} | {ours / floor:.2f} |")
    line_chart(
        CHARTS / "scaling-message-size.png",
        "Round trip versus message size",
        [float(s) for s in SIZES],
        {"yaat_testing": yaat_series, "floor (asyncio.Queue)": floor_series},
        "message size (bytes)",
        "µs per round trip",
    )

    print("\n## Session cost versus concurrent sessions (µs per session, medians)\n")
    print("| sessions open at once | µs per session |\n|---|---|")
    per_session = []
    for count in COUNTS:
        rounds = args.rounds if count <= 1000 else max(2, args.rounds // 2)
        repeat = max(1, 1000 // count)
        value = median(
            [sum(concurrent_sessions(count) for _ in range(repeat)) / repeat for _ in range(rounds)]
        )
        per_session.append(value * 1e6)
        print(f"| {count:,} | {value * 1e6:.1f} |")
    line_chart(
        CHARTS / "scaling-sessions.png",
        "Session cost versus concurrent sessions",
        [float(c) for c in COUNTS],
        {"yaat_testing": per_session},
        "sessions open at once",
        "µs per session",
    )
    print("\ncharts: docs/img/scaling-message-size.png, docs/img/scaling-sessions.png")


if __name__ == "__main__":
    main()
