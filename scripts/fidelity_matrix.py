"""The server matrix: every fidelity scenario, live on every server, recorded as data.

    python scripts/fidelity_matrix.py --record    # run them live, write tests/fidelity/matrix.json
    python scripts/fidelity_matrix.py --docs      # write the table of docs/servers.md

The record is the truth the tests hold both live runs and the in-memory profiles to.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fidelity import matrix  # noqa: E402
from tests.fidelity.runners import live  # noqa: E402
from tests.fidelity.scenarios import SCENARIOS  # noqa: E402
from yaat_testing.profiles import PROFILES  # noqa: E402

DOCS = ROOT / "docs" / "servers.md"
BEGIN, END = "<!-- matrix:begin -->", "<!-- matrix:end -->"
PACKAGES = ("uvicorn", "websockets", "wsproto", "hypercorn", "granian", "daphne", "twisted")


async def record(names: list[str]) -> None:
    recorded = matrix.load() if matrix.PATH.exists() else {"scenarios": {}, "seconds": {}}
    for scenario in SCENARIOS:
        if names and scenario.name not in names:
            continue
        row = recorded["scenarios"].setdefault(scenario.name, {})
        seconds = recorded["seconds"].setdefault(scenario.name, {})
        for server in matrix.SERVERS:
            outcome = await live(scenario, server)
            row[server] = matrix.record(outcome)
            seconds[server] = round(outcome.seconds, 1)
            print(f"{scenario.name:45} {server:16} {matrix.summary(row[server])}", flush=True)
    recorded["versions"] = {package: metadata.version(package) for package in PACKAGES}
    order = [s.name for s in SCENARIOS]
    recorded["scenarios"] = {
        n: recorded["scenarios"][n] for n in order if n in recorded["scenarios"]
    }
    recorded["seconds"] = {n: recorded["seconds"][n] for n in order if n in recorded["seconds"]}
    matrix.PATH.write_text(
        json.dumps(recorded, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def docs_table() -> str:
    recorded = matrix.load()
    titles = [PROFILES[server].title for server in matrix.SERVERS]
    lines = [
        "| scenario | " + " | ".join(titles) + " |",
        "|---|" + "---|" * len(titles),
    ]
    for name, row in recorded["scenarios"].items():
        cells = [matrix.summary(row[server]) for server in matrix.SERVERS]
        slow = [
            f"{server} after {seconds}s"
            for server, seconds in recorded["seconds"][name].items()
            if seconds >= 1.0
        ]
        note = f" ({', '.join(slow)})" if slow else ""
        lines.append(f"| {name}{note} | " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    versions = ", ".join(f"{p} {v}" for p, v in recorded["versions"].items())
    lines += ["", f"Recorded with {versions}, and Python's `websockets` as the client."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--record", action="store_true", help="run live and write the record")
    parser.add_argument("--docs", action="store_true", help="write the docs' table")
    parser.add_argument("scenarios", nargs="*", help="only these scenarios (with --record)")
    args = parser.parse_args()
    if args.record:
        asyncio.run(record(args.scenarios))
    if args.docs:
        text = DOCS.read_text(encoding="utf-8")
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        table = docs_table()
        DOCS.write_text(text[:start] + "\n" + table + "\n" + text[end:], encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
