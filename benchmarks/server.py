"""yaat and Starlette under a real uvicorn, each in its own process, same clients.

    python benchmarks/server.py [--rounds 5] [--clients 20] [--messages 500]

Each round drives both servers in turn (A B A B) with the same ``websockets`` clients,
each sending a message and waiting for its echo.  Target: yaat/Starlette ≥ 1.0.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from timing import median  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(app: str, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ],
        cwd=HERE,
    )


async def wait_ready(port: int) -> None:
    for _ in range(200):
        try:
            async with connect(f"ws://127.0.0.1:{port}/echo"):
                return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"the server on port {port} did not start")


async def load(port: int, clients: int, messages: int) -> float:
    """Messages per second echoed to *clients* concurrent clients."""

    async def one() -> None:
        async with connect(f"ws://127.0.0.1:{port}/echo", compression=None) as ws:
            for i in range(messages):
                await ws.send(f"message {i}")
                await ws.recv()

    start_time = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    return clients * messages / (time.perf_counter() - start_time)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(
    rounds: int, clients: int, messages: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    ports = {"yaat": free_port(), "Starlette": free_port()}
    servers = {
        "yaat": start("echo_apps:yaat_app", ports["yaat"]),
        "Starlette": start("echo_apps:starlette_app", ports["Starlette"]),
    }
    try:
        for port in ports.values():
            await wait_ready(port)
            await load(port, clients, messages)  # warm-up, not counted: first-use imports
        results: dict[str, list[float]] = {name: [] for name in ports}
        cpu: dict[str, list[float]] = {name: [] for name in ports}
        order = list(ports.items())
        for index in range(rounds):  # A B, B A, ...: neither always goes first
            for name, port in order if index % 2 == 0 else reversed(order):
                before = cpu_seconds(servers[name].pid)
                results[name].append(await load(port, clients, messages))
                cpu[name].append((cpu_seconds(servers[name].pid) - before) / (clients * messages))
        return results, cpu
    finally:
        for process in servers.values():
            process.terminate()
            process.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    results, cpu = asyncio.run(run(args.rounds, args.clients, args.messages))
    print(
        f"## Echo under uvicorn: {args.clients} clients × {args.messages} messages, {args.rounds} rounds\n"
    )
    print("| framework | median messages/s | min–max | server CPU per message (µs) |")
    print("|---|---|---|---|")
    for name, values in results.items():
        print(
            f"| {name} | {median(values):,.0f} | {min(values):,.0f}–{max(values):,.0f} "
            f"| {median(cpu[name]) * 1e6:.1f} |"
        )
    ratio = median(results["yaat"]) / median(results["Starlette"])
    cpu_ratio = median(cpu["Starlette"]) / median(cpu["yaat"])
    print(
        f"\n- yaat/Starlette messages/s ≥ 1.0: {ratio:.2f} {'met' if ratio >= 1.0 else 'NOT met'}"
    )
    print(f"- Starlette/yaat server CPU per message (above 1: yaat costs less): {cpu_ratio:.2f}")


if __name__ == "__main__":
    main()
