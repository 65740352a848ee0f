"""The drift check: stable cells of the corpus, played live again on their server.

>>> from tests.fidelity.corpus import Cell
>>> from tests.fidelity.generator import named
>>> three_runs, one_run = Cell([({}, 3)]), Cell([({}, 1)])
>>> rows = [Row(named()[0], {"daphne": three_runs}), Row(named()[1], {"daphne": one_run})]
>>> sample(rows, "daphne", 5)
[0]

A cell counts as drifted only when it never gives its recorded outcome again in
``ATTEMPTS`` live runs: a loaded machine may delay one run past a bounded wait, as
the recorder knows (it keeps a cell only when every run agreed), and a server that
changed behaviour fails every run.  Only cells with at least ``MIN_RUNS`` agreeing
runs are sampled: one run tells nothing of a cell's stability.  Nor are cells where two
tasks of the app race: their order varies from run to run, which a few agreeing runs do
not rule out (daphne's ``random 18:165`` agreed 3 times when recorded and differed 3
times in 3 on a later day).
"""

from __future__ import annotations

import random

from tests.fidelity.corpus import Row
from tests.fidelity.play import ScenarioApp, play_live
from yaat_testing.servers import SERVERS

#: Live runs of a sampled cell before it counts as drifted.
ATTEMPTS = 3
#: Agreeing live runs a cell needs in the record to be sampled.
MIN_RUNS = 2


def sample(rows: list[Row], server: str, count: int) -> list[int]:
    """A seeded sample of *count* stable cells of *server*, by scenario index."""
    candidates = [
        index
        for index, row in enumerate(rows)
        if server in row.cells
        and row.cells[server].stable
        and row.cells[server].runs >= MIN_RUNS
        and not row.scenario.racing
    ]
    return sorted(random.Random(server).sample(candidates, min(count, len(candidates))))


async def drifted(rows: list[Row], server: str, indexes: list[int]) -> list[str]:
    """The cells of *indexes* that no longer do what is recorded on *server*, each with
    what it does now."""
    app = ScenarioApp({index: rows[index].scenario for index in indexes})
    serving = SERVERS[server](app, lifespan="auto", root_path="", timeout=5.0)
    await serving.start()
    changed = []
    try:
        for index in indexes:
            recorded = rows[index].cells[server].outcome
            for _ in range(ATTEMPTS):
                outcome = (
                    await play_live(rows[index].scenario, index, app, serving.port)
                ).as_json()
                if outcome == recorded:
                    break
            else:
                changed.append(
                    f"{server} {rows[index].scenario.name!r}:\n  recorded {recorded}\n  now {outcome}"
                )
    finally:
        await serving.stop()
    return changed
