"""Route lookup: 1,000 parametrised WebSocket routes, sessions to the first and the last.

    python benchmarks/routing.py [--rounds 7]

Both apps are driven through yaat_testing, interleaved.  Targets: yaat's last/first
ratio ≤ 1.3 (lookup cost flat in the number of routes), and ≥ 5× faster than Starlette
at route 1,000.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
warnings.simplefilter("ignore")

from timing import interleave, median, report  # noqa: E402

from yaat import Yaat  # noqa: E402
from yaat.websockets import WebSocket  # noqa: E402
from yaat_testing import TestClient  # noqa: E402

ROUTES = 1000


def yaat_app() -> Any:
    app = Yaat()

    async def handler(websocket: WebSocket, item: int) -> None:
        await websocket.accept()
        await websocket.send_text("ok")
        await websocket.close()

    for i in range(ROUTES):
        app.add_websocket_route(f"/room{i}/{{item}}", handler)
    return app


def starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket as StarletteWebSocket

    async def handler(websocket: StarletteWebSocket) -> None:
        int(websocket.path_params["item"])
        await websocket.accept()
        await websocket.send_text("ok")
        await websocket.close()

    return Starlette(
        routes=[WebSocketRoute(f"/room{i}/{{item:int}}", handler) for i in range(ROUTES)]
    )


def sessions(app: Any, path: str, n: int) -> float:
    async def run() -> float:
        async with TestClient(app) as client:
            start = time.perf_counter()
            for _ in range(n):
                async with client.websocket_connect(path) as ws:
                    await ws.receive_text()
            return (time.perf_counter() - start) / n

    return asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-n", type=int, default=300, help="sessions per round")
    args = parser.parse_args()
    apps = {"yaat": yaat_app(), "Starlette": starlette_app()}
    first, last = "/room0/7", f"/room{ROUTES - 1}/7"
    results = interleave(
        {
            f"{name} route 1": (lambda app=app: sessions(app, first, args.n))
            for name, app in apps.items()
        }
        | {
            f"{name} route {ROUTES}": (lambda app=app: sessions(app, last, args.n))
            for name, app in apps.items()
        },
        args.rounds,
    )
    print(
        report(
            f"Session to a route among {ROUTES:,} (yaat_testing, {args.n} per round)",
            results,
            "yaat route 1",
        )
    )
    yaat_ratio = median(results[f"yaat route {ROUTES}"]) / median(results["yaat route 1"])
    starlette_ratio = median(results[f"Starlette route {ROUTES}"]) / median(
        results[f"yaat route {ROUTES}"]
    )
    print("\n## Targets\n")
    print(f"- yaat last/first ≤ 1.3: {yaat_ratio:.2f} {'met' if yaat_ratio <= 1.3 else 'NOT met'}")
    print(
        f"- ≥ 5× faster than Starlette at route {ROUTES}: {starlette_ratio:.1f}× {'met' if starlette_ratio >= 5 else 'NOT met'}"
    )


if __name__ == "__main__":
    main()
