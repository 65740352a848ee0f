"""Run the fidelity scenarios through several test clients and compare each with uvicorn.

    python scripts/compare_clients.py            # print the table
    python scripts/compare_clients.py --docs   # rewrite the table in README.md

The truth is uvicorn (websockets-sansio) with the ``websockets`` client.  Each
scenario runs in its own process with a time limit, because some clients hang.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import re
import sys
import warnings
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fidelity.runners import in_memory, live  # noqa: E402
from tests.fidelity.scenarios import SCENARIOS as ALL_SCENARIOS  # noqa: E402
from tests.fidelity.scenarios import Outcome, Scenario  # noqa: E402

#: The scenarios every client can play (texts, bytes and a close), against uvicorn.
SCENARIOS = [
    s
    for s in ALL_SCENARIOS
    if s.name
    in {
        "happy path",
        "close with a reason",
        "close before accept",
        "denial response with a body",
        "raise before accept",
        "return before accept",
        "raise after accept",
        "return after accept",
        "send after close",
        "text and bytes in one message",
        "reserved close code 1006",
        "reserved close code 1005",
        "close code out of range",
        "oversized close reason",
        "subprotocol negotiation",
        "subprotocol never offered",
        "no subprotocol offered",
        "query string and percent-encoded path",
        "custom request headers and accept headers",
        "unicode text",
        "empty text and empty bytes",
        "1 MiB binary message",
        "client close with code and reason",
        "client close seen by an echo app",
        "app closes after a pause",
        "yaat handler returns without closing",
        "yaat handler crashes after accept",
        "yaat path parameter, subprotocol and close reason",
        "yaat unknown path",
    }
]

LIMIT = 5.0  # seconds before a client is declared hung
CLIENTS = ["yaat_testing", "async-asgi-testclient", "Starlette TestClient"]


def summary(outcome: Outcome) -> str:
    """One cell of the table."""
    if outcome.kind == "denied":
        return f"HTTP {outcome.status}"
    if outcome.kind != "accepted":
        return outcome.kind
    parts = []
    if outcome.subprotocol:
        parts.append(f"subprotocol {outcome.subprotocol}")
    for kind, data in outcome.messages:
        shown = repr(data if len(data) <= 12 else data[:12])
        parts.append(f"{kind} {shown}{'…' if len(data) > 12 else ''}")
    if outcome.close is not None:
        code, reason = outcome.close
        parts.append(f"close {code}" + (f" '{reason[:12]}'" if reason else ""))
    return ", ".join(parts) or "accepted"


async def with_async_asgi_testclient(scenario: Scenario) -> Outcome:
    from async_asgi_testclient import TestClient as OtherClient
    from async_asgi_testclient.utils import Message as ExitMessage

    if scenario.subprotocols:
        return Outcome("no subprotocol support")
    seen: list[object] = []
    async with OtherClient(scenario.make_app(seen)) as client:
        try:
            async with client.websocket_connect(scenario.path, headers=scenario.headers) as ws:
                outcome = Outcome("accepted")
                for action in scenario.actions:
                    if action[0] == "close":
                        await ws.close(action[1])
                        break
                    await (
                        ws.send_text(action[1]) if action[0] == "text" else ws.send_bytes(action[1])
                    )
                while True:
                    message = await ws._receive()
                    if isinstance(message, ExitMessage):
                        outcome.close = (-1, "app exited, no close")
                        break
                    if message["type"] == "websocket.close":
                        outcome.close = (message.get("code", 1000), message.get("reason") or "")
                        break
                    kind = "text" if message.get("text") is not None else "bytes"
                    outcome.messages.append((kind, message[kind]))
        except Exception as exc:
            return Outcome(f"raises {type(exc).__name__}")
    return outcome


def with_starlette(scenario: Scenario) -> Outcome:
    from starlette.testclient import TestClient as StarletteClient
    from starlette.testclient import WebSocketDenialResponse
    from starlette.websockets import WebSocketDisconnect as StarletteDisconnect

    seen: list[object] = []
    with StarletteClient(scenario.make_app(seen), raise_server_exceptions=False) as client:
        try:
            with client.websocket_connect(
                scenario.path, subprotocols=scenario.subprotocols, headers=scenario.headers
            ) as ws:
                outcome = Outcome("accepted", subprotocol=ws.accepted_subprotocol)
                for action in scenario.actions:
                    if action[0] == "close":
                        ws.close(action[1], action[2])
                        break
                    ws.send_text(action[1]) if action[0] == "text" else ws.send_bytes(action[1])
                while True:
                    message = ws.receive()
                    if message["type"] == "websocket.close":
                        outcome.close = (message.get("code", 1000), message.get("reason") or "")
                        break
                    kind = "text" if message.get("text") is not None else "bytes"
                    outcome.messages.append((kind, message[kind]))
        except WebSocketDenialResponse as denied:
            return Outcome("denied", status=denied.status_code)
        except StarletteDisconnect as exc:
            return Outcome(f"raises WebSocketDisconnect({exc.code})")
        except Exception as exc:
            return Outcome(f"raises {type(exc).__name__}")
    return outcome


def _run(client: str, index: int, results: Any) -> None:
    warnings.simplefilter("ignore")
    scenario = SCENARIOS[index]
    if client == "uvicorn":
        outcome = asyncio.run(live(scenario, "uvicorn"))
    elif client == "yaat_testing":
        outcome = asyncio.run(in_memory(scenario))
    elif client == "async-asgi-testclient":
        outcome = asyncio.run(with_async_asgi_testclient(scenario))
    else:
        outcome = with_starlette(scenario)
    results.put(summary(outcome))


def run(client: str, index: int) -> str:
    """One scenario through one client, in a process that is killed if it hangs."""
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    process = context.Process(target=_run, args=(client, index, results))
    process.start()
    process.join(LIMIT)
    if process.is_alive():
        process.kill()
        process.join()
        return f"**hangs** (killed after {LIMIT:g} s)"
    with contextlib.suppress(Exception):
        return str(results.get(timeout=1))
    return f"crashed (exit {process.exitcode})"


def table() -> str:
    lines = [
        "| scenario | uvicorn + websockets (the truth) | " + " | ".join(CLIENTS) + " |",
        "|---" * (len(CLIENTS) + 2) + "|",
    ]
    for index, scenario in enumerate(SCENARIOS):
        truth = run("uvicorn", index)
        cells = []
        for client in CLIENTS:
            seen = run(client, index)
            cells.append("same" if seen == truth else f"✗ {seen}")
        lines.append(f"| {scenario.name} | {truth} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table in docs/testing/fidelity.md"
    )
    args = parser.parse_args()
    result = table()
    print(result)
    if args.docs:
        page = ROOT / "docs" / "testing" / "fidelity.md"
        text = page.read_text()
        begin, end = "<!-- compare_clients:begin -->", "<!-- compare_clients:end -->"
        pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
        if not pattern.search(text):
            raise SystemExit(f"{page} has no {begin} ... {end} section")
        page.write_text(pattern.sub(lambda _: f"{begin}\n{result}\n{end}", text))


if __name__ == "__main__":
    main()
