"""The generated corpus: record it live on the five servers, and measure the profiles on it.

    python scripts/fidelity_corpus.py --run uvicorn     # play every scenario live once more
    python scripts/fidelity_corpus.py --rerun           # again, where runs disagree
    python scripts/fidelity_corpus.py --merge           # write tests/fidelity/corpus.jsonl
    python scripts/fidelity_corpus.py --record          # all three, on every server
    python scripts/fidelity_corpus.py --table           # per server: equal, different, flaky
    python scripts/fidelity_corpus.py --drift 50        # 50 stable cells per server, live again

The scenarios come from ``tests/fidelity/generator.py`` (named edge cases, then seeded
random scripts).  Each run of a cell is appended to a runs file (``--runs``, a
directory of JSON lines per server, each run under its scenario's name, so that the
generator may grow), and a long recording can stop and go on.  Every cell is played
``--passes`` times (``--racing-passes`` where two tasks of the app race, whose order
may vary from run to run); a cell whose runs disagree is played again (``--rerun``,
sequentially) until it has ``--reruns`` runs.  A cell is stable when every run agreed,
and flaky otherwise, with every outcome kept.  What the in-memory profile gives plays
no part in the recording.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import sys
import time
from collections import Counter
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fidelity import corpus  # noqa: E402
from tests.fidelity.drift import drifted, sample  # noqa: E402
from tests.fidelity.generator import SEED, Scenario, corpus_scenarios  # noqa: E402
from tests.fidelity.play import ScenarioApp, play_live, play_memory_many  # noqa: E402
from yaat_testing.servers import SERVERS  # noqa: E402

PACKAGES = (
    "uvicorn",
    "websockets",
    "wsproto",
    "hypercorn",
    "granian",
    "daphne",
    "twisted",
    "autobahn",
)
RANDOM = 500
#: How many scenarios one server instance serves before it is restarted.
PER_SERVER = 150


def runs_file(directory: Path, server: str) -> Path:
    return directory / f"{server}.jsonl"


def load_runs(directory: Path, server: str) -> dict[str, list[dict[str, Any]]]:
    """Every live run of *server*, by scenario name (the generator may grow: names stay)."""
    runs: dict[str, list[dict[str, Any]]] = {}
    path = runs_file(directory, server)
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line:
                data = json.loads(line)
                runs.setdefault(data["n"], []).append(data["o"])
    return runs


async def play_chunk(
    scenarios: list[Scenario],
    chunk: list[int],
    app: ScenarioApp,
    port: int,
    file: Any,
    concurrency: int,
) -> None:
    limit = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        async with limit:
            outcome = await play_live(scenarios[index], index, app, port)
        line = {"n": scenarios[index].name, "o": outcome.as_json()}
        file.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        file.flush()

    await asyncio.gather(*(one(index) for index in chunk))


async def play_many(
    server: str, scenarios: list[Scenario], indexes: list[int], out: Path, concurrency: int
) -> None:
    """Play *indexes* live on *server*, appending each run to *out*."""
    app = ScenarioApp(dict(enumerate(scenarios)))
    started = time.monotonic()
    with out.open("a", encoding="utf-8") as file:
        for first in range(0, len(indexes), PER_SERVER):
            chunk = indexes[first : first + PER_SERVER]
            serving = SERVERS[server](app, lifespan="auto", root_path="", timeout=5.0)
            await serving.start()
            try:
                await play_chunk(scenarios, chunk, app, serving.port, file, concurrency)
            finally:
                await serving.stop()
            print(
                f"{server}: {first + len(chunk)}/{len(indexes)} in {time.monotonic() - started:.0f}s",
                flush=True,
            )


def cell_of(runs: list[dict[str, Any]]) -> corpus.Cell:
    counted: list[tuple[dict[str, Any], int]] = []
    for outcome in runs:
        for number, (seen, count) in enumerate(counted):
            if seen == outcome:
                counted[number] = (seen, count + 1)
                break
        else:
            counted.append((outcome, 1))
    return corpus.Cell(counted)


def rerun(servers: list[str], scenarios: list[Scenario], directory: Path, reruns: int) -> None:
    """Play the cells whose runs disagree again, up to *reruns* runs each, so that a
    flaky cell's record says how often each outcome comes."""
    for server in servers:
        runs = load_runs(directory, server)
        again = [
            index
            for index, scenario in enumerate(scenarios)
            if any(outcome != runs[scenario.name][0] for outcome in runs.get(scenario.name, ()))
        ]
        print(f"{server}: {len(again)} flaky cells to play again", flush=True)
        for _ in range(reruns):
            runs = load_runs(directory, server)
            pending = [index for index in again if len(runs[scenarios[index].name]) < reruns]
            if not pending:
                break
            asyncio.run(play_many(server, scenarios, pending, runs_file(directory, server), 1))


def merge(servers: list[str], scenarios: list[Scenario], directory: Path) -> None:
    all_runs = {server: load_runs(directory, server) for server in servers}
    rows = []
    for scenario in scenarios:
        cells = {
            server: cell_of(all_runs[server][scenario.name])
            for server in servers
            if scenario.name in all_runs[server]
        }
        rows.append(corpus.Row(scenario, cells))
    header = {
        "recorded": datetime.date.today().isoformat(),
        "seed": SEED,
        "random": RANDOM,
        "servers": servers,
        "versions": {package: metadata.version(package) for package in PACKAGES},
    }
    corpus.write(header, rows)
    print(f"wrote {corpus.PATH} ({len(rows)} scenarios)")


def compared() -> dict[str, dict[int, tuple[str, dict[str, Any]]]]:
    """Per server, per scenario: "equal", "different" or "flaky", and the memory outcome."""
    header, rows = corpus.load()
    result: dict[str, dict[int, tuple[str, dict[str, Any]]]] = {}
    for server in header["servers"]:
        scenarios = {i: row.scenario for i, row in enumerate(rows) if server in row.cells}
        memory = play_memory_many(server, scenarios)
        verdicts = {}
        for index in scenarios:
            cell = rows[index].cells[server]
            if not cell.stable:
                verdict = "flaky"
            elif memory[index] == cell.outcome:
                verdict = "equal"
            else:
                verdict = "different"
            verdicts[index] = (verdict, memory[index])
        result[server] = verdicts
    return result


def table() -> str:
    """Per server: the scenarios, the stable cells the profile reproduces, those it does
    not (by family, ``tests/fidelity/unmodelled.py``), and the flaky ones."""
    from tests.fidelity import unmodelled

    _, rows = corpus.load()
    families = list(unmodelled.FAMILIES)
    lines = [
        "| server | scenarios | equal | % of stable | different | "
        + " | ".join(families)
        + " | flaky |",
        "|---|" + "---|" * (len(families) + 5),
    ]
    for server, verdicts in compared().items():
        counts: Counter[str] = Counter()
        for index, (verdict, memory) in verdicts.items():
            counts[verdict] += 1
            if verdict == "different":
                row = rows[index]
                counts[unmodelled.family_of(row.scenario, row.cells[server].outcome, memory)] += 1
        stable = counts["equal"] + counts["different"]
        lines.append(
            f"| {server} | {len(verdicts)} | {counts['equal']} | "
            f"{100 * counts['equal'] / stable:.1f} | {counts['different']} | "
            + " | ".join(str(counts[family]) for family in families)
            + f" | {counts['flaky']} |"
        )
    return "\n".join(lines)


def list_unmodelled() -> None:
    """Write ``tests/fidelity/unmodelled.json``: every stable cell that differs, by family."""
    from tests.fidelity import unmodelled

    _, rows = corpus.load()
    cells = {}
    for server, verdicts in compared().items():
        for index, (verdict, memory) in verdicts.items():
            if verdict == "different":
                row = rows[index]
                family = unmodelled.family_of(row.scenario, row.cells[server].outcome, memory)
                cells[(row.scenario.name, server)] = family
    unmodelled.write(cells, corpus.SERVERS)
    print(f"listed {len(cells)} cells")


async def drift(per_server: int) -> int:
    """Play a sample of stable cells live again; report those that changed."""
    _, rows = corpus.load()
    changed = []
    for server in corpus.SERVERS:
        changed += await drifted(rows, server, sample(rows, server, per_server))
    print("\n".join(changed))
    print(f"{len(changed)} cells changed")
    return 1 if changed else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--run", metavar="SERVER", help="play every scenario on SERVER once more")
    parser.add_argument("--rerun", action="store_true", help="play differing cells again")
    parser.add_argument("--merge", action="store_true", help="write the corpus from the runs")
    parser.add_argument(
        "--record", action="store_true", help="--run on every server, --rerun, --merge"
    )
    parser.add_argument("--table", action="store_true", help="print the per-server table")
    parser.add_argument(
        "--list-unmodelled", action="store_true", help="write tests/fidelity/unmodelled.json"
    )
    parser.add_argument(
        "--drift", type=int, metavar="N", help="play N stable cells per server again"
    )
    parser.add_argument(
        "--runs", type=Path, default=ROOT / ".fidelity-runs", help="the runs directory"
    )
    parser.add_argument("--servers", default=",".join(corpus.SERVERS))
    parser.add_argument("--concurrency", type=int, default=2, help="cells at a time, per pass")
    parser.add_argument("--passes", type=int, default=3, help="runs of every cell")
    parser.add_argument(
        "--racing-passes",
        type=int,
        default=10,
        help="runs of a cell whose app runs two tasks (their order may vary from run to run)",
    )
    parser.add_argument("--reruns", type=int, default=5, help="runs of a cell that differs")
    parser.add_argument("--limit", type=int, help="only the first N scenarios")
    args = parser.parse_args()
    scenarios = corpus_scenarios(RANDOM)[: args.limit]
    servers = args.servers.split(",")
    args.runs.mkdir(exist_ok=True)
    if args.run or args.record:

        def passes_of(scenario: Scenario) -> int:
            return args.racing_passes if scenario.racing else args.passes

        for server in [args.run] if args.run else servers:
            for passes in range(1, max(args.passes, args.racing_passes) + 1):
                done = load_runs(args.runs, server)
                todo = [
                    index
                    for index, scenario in enumerate(scenarios)
                    if len(done.get(scenario.name, ())) < passes <= passes_of(scenario)
                ]
                out = runs_file(args.runs, server)
                asyncio.run(play_many(server, scenarios, todo, out, args.concurrency))
    if args.rerun or args.record:
        rerun(servers, scenarios, args.runs, args.reruns)
    if args.merge or args.record:
        merge(servers, scenarios, args.runs)
    if args.list_unmodelled:
        list_unmodelled()
    if args.table:
        print(table())
    if args.drift:
        return asyncio.run(drift(args.drift))
    return 0


if __name__ == "__main__":
    sys.exit(main())
