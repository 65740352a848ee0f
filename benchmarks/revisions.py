"""Before and after: the harness's round trip and session in two checkouts, interleaved:
the async API against the floor and async-asgi-testclient, the sync API and the drop-in
against Starlette's TestClient.

    python benchmarks/revisions.py /path/to/other/checkout [--rounds 9] [--quick]

Each round runs one subprocess per checkout (A B, then B A), and each subprocess
measures the floor (``asyncio.Queue`` ping-pong) and yaat_testing itself, so every
ratio is against a floor measured in the same process a moment before.  The report
gives medians of those ratios for both checkouts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timing import median  # noqa: E402

# Run in a subprocess with the checkout first on sys.path: prints one JSON line.
_PROBE = """
import asyncio, json, sys, warnings
sys.path.insert(0, sys.argv[1]); sys.path.insert(1, sys.argv[2])
warnings.simplefilter("ignore")
import yaat, yaat_testing  # from the checkout, before harness.py puts its own first
assert yaat_testing.__file__.startswith(sys.argv[1]), yaat_testing.__file__
from harness import (
    async_asgi_testclient_session, blocking_round_trip, blocking_session, echo,
    floor_round_trip, floor_session, starlette_client, yaat_round_trip, yaat_session,
    yaat_starlette_client,
)
from yaat_testing import TestClient
trips, sessions = int(sys.argv[3]), int(sys.argv[4])
results = {}
for name, run, n in (
    ("floor round trip", floor_round_trip, trips),
    ("round trip", yaat_round_trip, trips),
    ("floor session", floor_session, sessions),
    ("session", yaat_session, sessions),
    ("async-asgi-testclient session", async_asgi_testclient_session, sessions),
    ("sync round trip", blocking_round_trip(lambda: TestClient(echo)), trips // 5),
    ("sync session", blocking_session(lambda: TestClient(echo)), sessions // 5),
    ("drop-in round trip", blocking_round_trip(yaat_starlette_client), trips // 5),
    ("drop-in session", blocking_session(yaat_starlette_client), sessions // 5),
    ("Starlette round trip", blocking_round_trip(starlette_client), trips // 20),
    ("Starlette session", blocking_session(starlette_client), sessions // 20),
):
    run(max(1, n // 10))  # warm up
    results[name] = run(n)
print(json.dumps(results))
"""


def measure(checkout: Path, trips: int, sessions: int) -> dict[str, float]:
    """One subprocess's figures for *checkout*, in seconds per operation."""
    output = subprocess.run(
        [sys.executable, "-c", _PROBE, str(checkout), str(HERE), str(trips), str(sessions)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    ).stdout
    figures: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("before", type=Path, help="the other checkout (the 'before')")
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--quick", action="store_true", help="fewer operations per round")
    args = parser.parse_args()
    trips, sessions = (500, 100) if args.quick else (3000, 400)
    checkouts = {"before": args.before.resolve(), "after": HERE.parent}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in checkouts}
    order = list(checkouts.items())
    for index in range(args.rounds):
        for name, path in order if index % 2 == 0 else reversed(order):
            runs[name].append(measure(path, trips, sessions))
    print(f"## Before and after, {args.rounds} interleaved rounds (medians of ratios)\n")
    print(
        "| checkout | round trip | × floor | session | × floor | × async-asgi-testclient "
        "| sync API: × faster than Starlette (trip, session) | drop-in: × faster (trip, session) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, figures in runs.items():

        def ratio(top: str, bottom: str, figures: list[dict[str, float]] = figures) -> float:
            return median([f[top] / f[bottom] for f in figures])

        trip = median([f["round trip"] for f in figures])
        session = median([f["session"] for f in figures])
        print(
            f"| {name} | {trip * 1e6:.2f} µs | {ratio('round trip', 'floor round trip'):.2f} "
            f"| {session * 1e6:.2f} µs | {ratio('session', 'floor session'):.2f} "
            f"| {ratio('session', 'async-asgi-testclient session'):.2f} "
            f"| {ratio('Starlette round trip', 'sync round trip'):.1f}, "
            f"{ratio('Starlette session', 'sync session'):.1f} "
            f"| {ratio('Starlette round trip', 'drop-in round trip'):.1f}, "
            f"{ratio('Starlette session', 'drop-in session'):.1f} |"
        )


if __name__ == "__main__":
    main()
