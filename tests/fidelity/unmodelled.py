"""The corpus cells the in-memory profiles do not reproduce, each with its family's reason.

>>> sorted(FAMILIES)[:2]
['close handling', 'flow control']

``unmodelled.json`` lists them by server and scenario name; it is written by
``scripts/fidelity_corpus.py --list-unmodelled`` with :func:`family_of`, and
``tests/fidelity/test_corpus.py`` fails when a cell differs and is not listed, or is
listed and no longer differs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.fidelity.generator import Scenario

PATH = Path(__file__).with_name("unmodelled.json")

#: Why a family of cells differs in memory: what the harness counts, and what it does not.
FAMILIES = {
    "flow control": (
        "bytes in flight: the harness counts messages, not the bytes in the kernel's "
        "buffers, so when a burst of 4 KiB or 64 KiB messages races the client's close, "
        "or the client reads again, the live order follows how many bytes each socket "
        "write took"
    ),
    "handshake failed": (
        "the client failed the handshake: what the server does next is in each profile "
        "(ServerProfile.consequences['subprotocol-not-offered']); a cell listed here "
        "differs in what the app sees afterwards"
    ),
    "latency": (
        "a client's frame reaches the server client_frame_turns loop turns after it is "
        "sent; live, a frame sent as the handshake ends or behind a 64 KiB message takes "
        "the kernel more or fewer turns than the harness counts"
    ),
    "racing tasks": (
        "two tasks of the app interleave with the server's I/O in the loop's order of "
        "ready callbacks, and a server's own tasks and threads (hypercorn's reader, "
        "granian's Rust threads, daphne's reactor) take turns the harness does not count, "
        "so one task's call ends before the other's, or after, in another order than live"
    ),
    "close handling": (
        "the app's 0.5 s waits that end at the instant the client's 1 s wait does, where "
        "live the microseconds of each wait's lateness decide (daphne's reactor thread "
        "takes real time the virtual clock does not charge); daphne's 1011 for a raising "
        "app, sent at its once-a-second check; a client's close right behind its 64 KiB "
        "message, which hypercorn reads in the same 64 KiB chunks"
    ),
}


def family_of(scenario: Scenario, live: dict[str, Any], memory: dict[str, Any]) -> str:
    """The family a differing cell belongs to, from the scenario and what differs."""
    if scenario.name.startswith("client stops reading") or any(
        step[0] == "burst" for step in scenario.app
    ):
        return "flow control"
    if live["handshake"] == ["failed"] or memory["handshake"] == ["failed"]:
        return "handshake failed"
    if scenario.racing:
        return "racing tasks"
    first = [step[0] for step in scenario.client if step[0] != "recv"][:1]
    if first in (["close"], ["drop"]):
        return "latency"
    return "close handling"


def load() -> dict[tuple[str, str], str]:
    """``{(scenario name, server): family}``."""
    listed: dict[str, dict[str, str]] = json.loads(PATH.read_text(encoding="utf-8"))
    return {
        (name, server): family for server, names in listed.items() for name, family in names.items()
    }


def write(cells: dict[tuple[str, str], str], servers: tuple[str, ...]) -> None:
    listed = {
        server: {name: family for (name, s), family in sorted(cells.items()) if s == server}
        for server in servers
    }
    PATH.write_text(json.dumps(listed, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
