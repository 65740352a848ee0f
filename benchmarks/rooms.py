"""Room fan-out on real uvicorn: yaat.Rooms against Starlette peers, in the same run.

    python benchmarks/rooms.py [--sizes 1,10,100,1000] [--rounds 3] [--deliveries 100000]
    python benchmarks/rooms.py --quick
    python benchmarks/rooms.py --baseline /tmp/rooms-baseline --bounded  # before/after

Each candidate (``benchmarks/room_apps.py``) is served by its own uvicorn process; a
private redis-server serves the Redis candidates.  One publisher sends messages of 100
bytes to a room of N members; the figure is deliveries per second (N x messages / the
time until every member has every byte), and the server's CPU time per delivery.
Candidates are interleaved round by round; medians are printed, with ratios to yaat.

Then the slow member: a room of 100 members, 5,000 messages of 1,000 bytes, with and
without one member that never reads.  Goal: yaat's rate to the healthy members with it
within 10 % of the rate without, and the server's memory bounded.

Members are raw sockets that count bytes after the handshake (a frame's size is known),
so that the client side costs little next to the server; the publisher is a
``websockets`` client.  Charts: docs/img/rooms-fanout.png, docs/img/rooms-slow.png.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

from timing import CHARTS  # noqa: E402

from tests.redis_server import running_redis  # noqa: E402
from yaat_testing.servers.base import free_port  # noqa: E402

CANDIDATES = {
    "yaat (memory)": "yaat_memory",
    "yaat (redis)": "yaat_redis",
    "starlette set+loop": "starlette_loop",
    "starlette+broadcaster (memory)": "broadcaster_memory",
    "starlette+broadcaster (redis)": "broadcaster_redis",
}
FLOOR = "yaat (memory)"
#: yaat (memory) served with the protocol ``yaat run`` uses (``--bounded``).
BOUNDED = "yaat (memory), yaat run's protocol"
BOUNDED_WS = "yaat.uvicorn_protocol:BoundedWebSocketsProtocol"
STALL = 60.0  # seconds without progress after which a run is reported as stalled


class Member(asyncio.Protocol):
    """A WebSocket member that counts the bytes it receives after the handshake."""

    def __init__(self, reads: bool = True) -> None:
        self.reads = reads
        self.received = 0
        self.opened: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.target = 0
        self.complete: asyncio.Future[None] | None = None
        self._head = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.opened.done():
            self._head += data
            end = self._head.find(b"\r\n\r\n")
            if end < 0:
                return
            status = self._head.split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                self.opened.set_exception(RuntimeError(f"handshake refused: {status!r}"))
                return
            data = self._head[end + 4 :]
            self.opened.set_result(None)
            if not self.reads and self.transport is not None:
                self.transport.pause_reading()  # a member that never reads
        self.received += len(data)
        if self.complete is not None and not self.complete.done() and self.received >= self.target:
            self.complete.set_result(None)

    def expect(self, more: int) -> asyncio.Future[None]:
        self.target = self.received + more
        self.complete = asyncio.get_running_loop().create_future()
        if more <= 0:
            self.complete.set_result(None)
        return self.complete

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def join(port: int, path: str, reads: bool = True) -> Member:
    loop = asyncio.get_running_loop()
    _, member = await loop.create_connection(lambda: Member(reads), "127.0.0.1", port)
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert member.transport is not None
    member.transport.write(request.encode())
    await asyncio.wait_for(member.opened, 10)
    return member


def frame_size(payload: int) -> int:
    """Bytes of an unmasked server frame with *payload* bytes."""
    return payload + (2 if payload < 126 else 4 if payload < 65536 else 10)


class Server:
    """One candidate served by uvicorn in its own process."""

    def __init__(
        self, app: str, redis_url: str, options: tuple[str, ...] = (), checkout: str | None = None
    ) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "uvicorn", f"room_apps:{app}", "--port", str(self.port)]
        # No keepalive pings: the byte-counting members do not answer them.
        command += ["--log-level", "warning", "--no-access-log", "--ws-ping-interval", "600"]
        command += options
        env = {**os.environ, "BENCH_REDIS_URL": redis_url}
        if checkout is not None:  # yaat from another checkout: before and after, one run
            env["PYTHONPATH"] = os.pathsep.join([checkout, env.get("PYTHONPATH", "")])
        # The server's stderr, for its tracebacks; closed in stop().
        self.log = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(command, cwd=HERE, env=env, stderr=self.log)

    async def ready(self) -> None:
        for _ in range(400):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
            except OSError:
                await asyncio.sleep(0.025)
                continue
            writer.close()
            return
        raise RuntimeError("uvicorn did not start")

    def cpu(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        return 0

    def tracebacks(self) -> int:
        """How many tracebacks the server has logged so far."""
        self.log.seek(0)
        return self.log.read().count(b"Traceback")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


class Outcome:
    def __init__(self, rate: float | None, cpu_per_delivery: float, rss: int) -> None:
        self.rate = rate  # deliveries per second to the healthy members; None: stalled
        self.cpu_per_delivery = cpu_per_delivery
        self.rss = rss


async def fan_out(
    server: Server, room: str, members: int, messages: int, size: int, slow: bool = False
) -> Outcome:
    """Publish *messages* to a room of *members* (and a member that never reads)."""
    crowd = [await join(server.port, f"/ws/{room}") for _ in range(members)]
    stuck = await join(server.port, f"/ws/{room}", reads=False) if slow else None
    text = "x" * size
    async with connect(f"ws://127.0.0.1:{server.port}/pub/{room}", compression=None) as pub:
        # Warm up until every member is subscribed (Redis subscriptions are asynchronous).
        for _ in range(500):
            await pub.send(text)
            await asyncio.sleep(0.02)
            if all(m.received for m in crowd):
                break
        else:
            raise RuntimeError("members never got the warm-up messages")
        await asyncio.sleep(0.3)
        waits = [m.expect(messages * frame_size(size)) for m in crowd]
        cpu, started = server.cpu(), time.perf_counter()
        for _ in range(messages):
            await pub.send(text)
        rate: float | None
        try:
            await _until_done(crowd, waits)
            rate = members * messages / (time.perf_counter() - started)
        except TimeoutError:
            rate = None
        cpu = server.cpu() - cpu
        rss = server.rss()
    for member in crowd + ([stuck] if stuck else []):
        member.close()
    await asyncio.sleep(0.2)
    return Outcome(rate, cpu / (members * messages), rss)


async def _until_done(crowd: list[Member], waits: list[asyncio.Future[None]]) -> None:
    """Wait for every member, failing after STALL seconds without progress."""
    last, last_change = -1, time.monotonic()
    pending = set(waits)
    while pending:
        _, pending = await asyncio.wait(pending, timeout=0.5)
        total = sum(m.received for m in crowd)
        if total != last:
            last, last_change = total, time.monotonic()
        elif time.monotonic() - last_change > STALL:
            raise TimeoutError


def median(values: list[float | None]) -> float | None:
    done = [v for v in values if v is not None]
    return statistics.median(done) if len(done) == len(values) else None


def show(rate: float | None) -> str:
    return "stalled" if rate is None else f"{rate / 1000:.1f}k"


async def run(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    with running_redis() as redis_server:
        chosen = args.candidates.split(",")
        unknown = sorted(set(chosen) - CANDIDATES.keys())
        if unknown:
            raise SystemExit(f"unknown candidates {unknown}; choose from {sorted(CANDIDATES)}")
        if FLOOR not in chosen:
            chosen.insert(0, FLOOR)  # the ratios are to it
        servers = {name: Server(CANDIDATES[name], redis_server.url) for name in chosen}
        if args.bounded:
            servers[BOUNDED] = Server("yaat_memory", redis_server.url, ("--ws", BOUNDED_WS))
        if args.baseline:
            for name in [n for n in chosen if n.startswith("yaat")]:
                before = f"{name}, before"
                servers[before] = Server(CANDIDATES[name], redis_server.url, (), args.baseline)
        try:
            for server in servers.values():
                await server.ready()
            tables = [await fanout_table(servers, sizes, args)]
            if not args.no_slow:
                tables.append(await slow_member_table(servers, args))
        finally:
            for server in servers.values():
                server.stop()
    text = "\n\n".join(tables)
    print("\n" + text)
    if args.docs:
        write_docs(text)


def write_docs(text: str) -> None:
    """Put the tables in docs/rooms.md, between its benchmark markers."""
    page = ROOT / "docs" / "rooms.md"
    begin, end = "<!-- rooms-benchmark:begin -->", "<!-- rooms-benchmark:end -->"
    old = page.read_text(encoding="utf-8")
    start, stop = old.index(begin) + len(begin), old.index(end)
    page.write_text(f"{old[:start]}\n{text}\n{old[stop:]}", encoding="utf-8")


async def fanout_table(
    servers: dict[str, Server], sizes: list[int], args: argparse.Namespace
) -> str:
    rates: dict[tuple[str, int], list[float | None]] = {}
    cpu: dict[tuple[str, int], list[float]] = {}
    order = list(servers)
    for round_ in range(args.rounds):
        for size in sizes:
            messages = max(50, args.deliveries // size)
            for name in order if round_ % 2 == 0 else reversed(order):
                outcome = await fan_out(servers[name], f"r{round_}-{size}", size, messages, 100)
                rates.setdefault((name, size), []).append(outcome.rate)
                cpu.setdefault((name, size), []).append(outcome.cpu_per_delivery)
                print(
                    f"  round {round_ + 1}: {name}, {size} members: {show(outcome.rate)}/s",
                    flush=True,
                )
    lines = [
        f"### Fan-out: deliveries per second (median of {args.rounds}), messages of 100 bytes",
        "",
        "| candidate | "
        + " | ".join(f"{s} members" for s in sizes)
        + f" | server CPU µs/delivery (at {sizes[-1]}) |",
        "|---|" + "---|" * len(sizes) + "---|",
    ]
    for name in servers:
        cells = []
        for size in sizes:
            mine, floor = median(rates[(name, size)]), median(rates[(FLOOR, size)])
            ratio = f" ({mine / floor:.2f}x)" if mine and floor and name != FLOOR else ""
            cells.append(show(mine) + ratio)
        cpu_us = statistics.median(cpu[(name, sizes[-1])]) * 1e6
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {cpu_us:.1f} |")
    chart_fanout(CHARTS / "rooms-fanout.png", servers, sizes, rates)
    return "\n".join(lines)


async def slow_member_table(servers: dict[str, Server], args: argparse.Namespace) -> str:
    members, messages, size = 100, args.slow_messages, 1000
    results: dict[tuple[str, bool], list[Outcome]] = {}
    names = [n for n in servers if "redis" not in n or n.startswith("yaat (redis)")]
    for round_ in range(args.rounds):
        for name in names if round_ % 2 == 0 else reversed(names):
            for slow in (False, True):
                outcome = await fan_out(
                    servers[name], f"s{round_}-{slow}", members, messages, size, slow
                )
                results.setdefault((name, slow), []).append(outcome)
                print(
                    f"  round {round_ + 1}: {name}, slow member {slow}: {show(outcome.rate)}/s, "
                    f"server RSS {outcome.rss / 2**20:.0f} MiB",
                    flush=True,
                )
    lines = [
        f"### One member that never reads: {members} members, {messages} messages of "
        f"{size} bytes (median of {args.rounds})",
        "",
        "| candidate | healthy only | with a member that never reads | ratio | server RSS "
        "after (MiB) | tracebacks in the server log (whole run) |",
        "|---|---|---|---|---|---|",
    ]
    for name in names:
        without = median([o.rate for o in results[(name, False)]])
        with_ = median([o.rate for o in results[(name, True)]])
        ratio = f"{with_ / without:.2f}" if with_ and without else "-"
        rss = statistics.median(o.rss for o in results[(name, True)]) / 2**20
        logged = servers[name].tracebacks()
        lines.append(
            f"| {name} | {show(without)}/s | {show(with_)}/s | {ratio} | {rss:.0f} | {logged} |"
        )
    chart_slow(CHARTS / "rooms-slow.png", names, results)
    return "\n".join(lines)


def chart_fanout(
    path: Path,
    servers: dict[str, Server],
    sizes: list[int],
    rates: dict[tuple[str, int], list[float | None]],
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    for name in servers:
        points = [(s, median(rates[(name, s)])) for s in sizes]
        axes.plot(
            [s for s, r in points if r], [r / 1000 for s, r in points if r], marker="o", label=name
        )
    axes.set_xscale("log")
    axes.set_xlabel("members in the room")
    axes.set_ylabel("deliveries per second (thousands)")
    axes.set_title("Room fan-out on uvicorn (median), 100-byte messages")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def chart_slow(
    path: Path, names: list[str], results: dict[tuple[str, bool], list[Outcome]]
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 4.5))
    width = 0.38
    for offset, slow, label in (
        (-width / 2, False, "healthy only"),
        (width / 2, True, "with one member that never reads"),
    ):
        values = [(median([o.rate for o in results[(n, slow)]]) or 0) / 1000 for n in names]
        axes.barh([i + offset for i in range(len(names))], values, height=width, label=label)
    axes.set_yticks(range(len(names)), names)
    axes.set_xlabel("deliveries per second to healthy members (thousands; 0 = stalled)")
    axes.set_title("A member that never reads (100 members, 1,000-byte messages)")
    axes.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1,10,100,1000", help="room sizes (comma-separated)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--deliveries", type=int, default=100_000, help="per measurement")
    parser.add_argument("--slow-messages", type=int, default=5_000)
    parser.add_argument("--quick", action="store_true", help="1 round, fewer deliveries")
    parser.add_argument(
        "--candidates", default=",".join(CANDIDATES), help="which to run (comma-separated)"
    )
    parser.add_argument("--no-slow", action="store_true", help="skip the slow-member table")
    parser.add_argument(
        "--baseline",
        metavar="CHECKOUT",
        help="also serve the yaat candidates with yaat from this checkout (before/after)",
    )
    parser.add_argument(
        "--bounded", action="store_true", help="also serve yaat (memory) with yaat run's protocol"
    )
    parser.add_argument("--docs", action="store_true", help="write the tables in docs/rooms.md")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.deliveries, args.slow_messages = 1, 20_000, 5_000
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
