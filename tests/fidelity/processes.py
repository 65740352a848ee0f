"""Scenarios a signal ends: the real server as a process, its own CLI, and SIGTERM.

Embedded servers stop their own way (granian's embedded server keeps connections open
when it stops); what a deployment sees at shutdown is what the process does with
SIGTERM, so that is what is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from websockets.asyncio.client import connect

from tests.fidelity.scenarios import Outcome, Scenario
from yaat_testing.servers.base import free_port

ROOT = Path(__file__).resolve().parent.parent.parent
PYTHON = sys.executable

#: The command that serves ``module:attribute`` on 127.0.0.1 and *port*, with defaults.
COMMANDS: dict[str, Callable[[str, int], list[str]]] = {
    "uvicorn": lambda app, port: [PYTHON, "-m", "uvicorn", app, "--port", str(port)],
    "uvicorn-wsproto": lambda app, port: [
        *[PYTHON, "-m", "uvicorn", app, "--port", str(port)],
        *["--ws", "wsproto"],
    ],
    "hypercorn": lambda app, port: [PYTHON, "-m", "hypercorn", app, "--bind", f"127.0.0.1:{port}"],
    "granian": lambda app, port: [
        *[PYTHON, "-m", "granian", "--interface", "asgi"],
        *["--host", "127.0.0.1", "--port", str(port), app],
    ],
    "daphne": lambda app, port: [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app],
}


async def by_signal(scenario: Scenario, server: str, timeout: float) -> Outcome:
    """Run *scenario* against *server* as a process; its ``("shutdown",)`` is SIGTERM."""
    assert scenario.process_app is not None
    port = free_port()
    with tempfile.TemporaryDirectory() as scratch:
        saw = Path(scratch) / "saw.jsonl"
        process = await asyncio.create_subprocess_exec(
            *COMMANDS[server](scenario.process_app, port),
            cwd=ROOT,
            env={**os.environ, "YAAT_FIDELITY_SAW": str(saw)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        started = time.monotonic()
        try:
            await _listening(port, process, timeout)
            outcome = await _as_a_client(scenario, port, process, timeout)
        finally:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.wait(), timeout)
            if process.returncode is None:
                process.kill()
                await process.wait()
        if saw.exists():
            outcome.app_saw = [json.loads(line) for line in saw.read_text().splitlines()]
    outcome.seconds = time.monotonic() - started
    return outcome


async def _listening(port: int, process: asyncio.subprocess.Process, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while process.returncode is None and time.monotonic() < deadline:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        await writer.wait_closed()
        return
    raise RuntimeError(f"the server did not listen on {port} within {timeout:g}s")


async def _as_a_client(
    scenario: Scenario, port: int, process: asyncio.subprocess.Process, timeout: float
) -> Outcome:
    from tests.fidelity.runners import read_to_the_end

    async with connect(
        f"ws://127.0.0.1:{port}{scenario.path}", ping_interval=None, close_timeout=timeout
    ) as client:
        outcome = Outcome("accepted", subprotocol=client.subprotocol)
        for action in scenario.actions:
            if action[0] == "shutdown":
                process.send_signal(signal.SIGTERM)
        await read_to_the_end(client, outcome)
    return outcome
