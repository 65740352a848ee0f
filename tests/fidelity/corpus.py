"""The recorded corpus: every generated scenario, live on every server.

``tests/fidelity/corpus.jsonl`` is JSON lines: a header, then one line per scenario
in the generator's order::

    {"versions": {...}, "recorded": "2025-…", "seed": 18, "random": 500, "servers": [...]}
    {"scenario": {...}, "outcomes": [o0, o1], "cells": {"uvicorn": [[0, 3]], "granian": [[0, 2], [1, 1]]}}

A cell is the list of its ``[outcome index, runs]`` pairs: one pair when every run
agreed (stable), more when they did not (flaky: every outcome is kept, with how often
it came).
``scripts/fidelity_corpus.py --record`` writes it; ``tests/fidelity/test_corpus.py``
holds the in-memory profiles to its stable cells.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.fidelity.generator import Scenario

PATH = Path(__file__).with_name("corpus.jsonl")
SERVERS = ("uvicorn", "uvicorn-wsproto", "hypercorn", "granian", "daphne")


@dataclass
class Cell:
    """One scenario on one server: its outcome, or its outcomes and their counts if flaky."""

    outcomes: list[tuple[dict[str, Any], int]]

    @property
    def stable(self) -> bool:
        return len(self.outcomes) == 1

    @property
    def runs(self) -> int:
        """How many live runs the cell has."""
        return sum(runs for _, runs in self.outcomes)

    @property
    def outcome(self) -> dict[str, Any]:
        """The outcome (the most frequent one of a flaky cell)."""
        return max(self.outcomes, key=lambda pair: pair[1])[0]


@dataclass
class Row:
    scenario: Scenario
    cells: dict[str, Cell]


def dump_row(scenario: Scenario, cells: dict[str, Cell]) -> str:
    outcomes: list[dict[str, Any]] = []
    written: dict[str, Any] = {}

    def index_of(outcome: dict[str, Any]) -> int:
        if outcome not in outcomes:
            outcomes.append(outcome)
        return outcomes.index(outcome)

    for server in SERVERS:
        if server not in cells:
            continue
        written[server] = [[index_of(outcome), runs] for outcome, runs in cells[server].outcomes]
    line = {"scenario": scenario.as_json(), "outcomes": outcomes, "cells": written}
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def load_row(line: str) -> Row:
    data = json.loads(line)
    outcomes = data["outcomes"]
    cells = {
        server: Cell([(outcomes[index], runs) for index, runs in cell])
        for server, cell in data["cells"].items()
    }
    return Row(Scenario.from_json(data["scenario"]), cells)


def load(path: Path = PATH) -> tuple[dict[str, Any], list[Row]]:
    """The header and the rows of the recorded corpus."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return json.loads(lines[0]), [load_row(line) for line in lines[1:]]


def write(header: dict[str, Any], rows: list[Row], path: Path = PATH) -> None:
    text = [json.dumps(header, ensure_ascii=False, separators=(",", ":"))]
    text += [dump_row(row.scenario, row.cells) for row in rows]
    path.write_text("\n".join(text) + "\n", encoding="utf-8")


#: The app's steps that send a message, by the message's type.
_SENT = {"send": "websocket.send", "burst": "websocket.send", "close": "websocket.close"}


def flaky_situations(rows: list[Row], server: str) -> frozenset[str]:
    """Where *server*'s live outcome varied: the situation
    (``yaat_testing.profiles.situation``) of the first app step whose result differed
    between the runs of a flaky cell, for the steps that send a message (what a
    transcript shows; a receive's timing is not), in scenarios of one app task."""
    from yaat_testing.profiles import situation

    found = set()
    for row in rows:
        cell = row.cells.get(server)
        if cell is None or cell.stable or row.scenario.racing:
            continue  # (two tasks of the app racing is the app's own nondeterminism)
        first, *others = [outcome["app"] for outcome, _ in cell.outcomes]
        for other in others:
            step = _first_difference(row.scenario, first, other)
            if step is not None and step[0][0] in _SENT:
                kind, before = step
                app_closed = any(s[0] == "close" for s in before)
                client_closed = any(s[0] in ("close", "drop") for s in row.scenario.client)
                found.add(situation(_SENT[kind[0]], app_closed, client_closed))
    return frozenset(found)


def _first_difference(
    scenario: Scenario, log: list[list[Any]], other: list[list[Any]]
) -> tuple[list[Any], list[list[Any]]] | None:
    """The script step (and the steps before it in its task) whose result differs first
    between two logs of the app; ``None`` if the logs differ in order only."""
    for mine, theirs in zip(log, other, strict=False):
        if mine == theirs:
            continue
        where = mine[0]
        if where != theirs[0] or where[0] not in "ms" or not where[1:].isdigit():
            return None
        steps = scenario.app
        if where[0] == "s":
            spawned = [step for step in scenario.app if step[0] == "spawn"]
            steps = spawned[0][1] if spawned else []
        index = int(where[1:])
        return (steps[index], steps[:index]) if index < len(steps) else None
    return None
