"""The generated corpus holds: in memory, every stable cell equals its live record on
its server, or is listed with its reason (``unmodelled.json``); live, a sample of stable
cells still does what is recorded.

The corpus is ``tests/fidelity/corpus.jsonl`` (``scripts/fidelity_corpus.py``);
``docs/testing/fidelity.md`` gives the counts per server.
"""

from __future__ import annotations

import pytest

from tests.fidelity import corpus, drift, unmodelled
from tests.fidelity.generator import corpus_scenarios
from tests.fidelity.play import play_memory_many
from yaat_testing.profiles import PROFILES

pytestmark = pytest.mark.yaat_memory_only("compares the harness with the servers' record")

HEADER, ROWS = corpus.load()
UNMODELLED = unmodelled.load()
#: Stable cells per server the live drift test plays again.
DRIFT_SAMPLE = 6


def test_the_corpus_is_what_the_seeded_generator_gives() -> None:
    assert len(ROWS) >= 1000
    assert [row.scenario.as_json() for row in ROWS] == [
        scenario.as_json() for scenario in corpus_scenarios(HEADER["random"])
    ]
    for row in ROWS:
        assert sorted(row.cells) == sorted(corpus.SERVERS), row.scenario.name


@pytest.mark.parametrize("server", corpus.SERVERS)
def test_in_memory_every_stable_cell_equals_its_record(server: str) -> None:
    stable = {i: row.scenario for i, row in enumerate(ROWS) if row.cells[server].stable}
    memory = play_memory_many(server, stable)
    unexplained, reproduced = [], []
    for index, scenario in stable.items():
        recorded = ROWS[index].cells[server].outcome
        listed = (scenario.name, server) in UNMODELLED
        if memory[index] == recorded:
            if listed:
                reproduced.append(scenario.name)
        elif not listed:
            unexplained.append(f"{scenario.name}:\n  live   {recorded}\n  memory {memory[index]}")
    assert not unexplained, f"{len(unexplained)} cells differ:\n" + "\n".join(unexplained[:10])
    assert not reproduced, f"now reproduced, drop from unmodelled.json: {reproduced[:10]}"


@pytest.mark.parametrize("server", corpus.SERVERS)
def test_a_profile_says_where_the_outcome_varied_from_run_to_run(server: str) -> None:
    # The portability report names these; they come from the corpus's flaky cells.
    assert PROFILES[server].nondeterministic == corpus.flaky_situations(ROWS, server)


def test_every_listed_cell_has_a_family_with_a_reason() -> None:
    names = {row.scenario.name for row in ROWS}
    for (name, server), family in UNMODELLED.items():
        assert name in names, name
        assert server in corpus.SERVERS
        assert family in unmodelled.FAMILIES, family


@pytest.mark.live
@pytest.mark.slow
@pytest.mark.parametrize("server", corpus.SERVERS)
async def test_live_the_server_still_does_what_is_recorded(server: str) -> None:
    """The drift test: a seeded sample of stable cells, played live again
    (``tests/fidelity/drift.py``; ``scripts/fidelity_corpus.py --drift N`` plays N per
    server)."""
    changed = await drift.drifted(ROWS, server, drift.sample(ROWS, server, DRIFT_SAMPLE))
    assert not changed, "\n".join(changed)
