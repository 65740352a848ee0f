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
        "bytes in flight: the harness plays the websockets client's max_queue=16 where the "
        "client closes (past 16 unread messages it stops reading the socket, never reads "
        "the answer to its close, and sees 1006), but counts messages, not the bytes in "
        "the kernel's buffers: when the client reads again, drops while it does not read "
        "(daphne then tells the app 1006, not its echo), or when a burst of 4 KiB or 64 "
        "KiB messages races a close, the live order follows how many bytes each socket "
        "write took"
    ),
    "handshake failed": (
        "the client failed the handshake: what the server does next is in each profile "
        "(ServerProfile.consequences['subprotocol-not-offered']); a cell listed here "
        "differs in what the app sees afterwards"
    ),
    "latency": (
        "the client's close or drop reaches the server client_frame_turns loop turns after "
        "it is sent, and the app's sends in between go through; live, a send of 64 KiB "
        "takes the kernel longer than a turn, so fewer or more of them go out first than "
        "the turns the harness counts"
    ),
    "racing tasks": (
        "two tasks of the app interleave with the server's I/O in the loop's order of "
        "ready callbacks; a message crosses the harness in fewer turns than it crosses a "
        "socket and a server's own tasks (hypercorn, granian's threads, daphne's reactor), "
        "so one task's receive wakes before the other's send, or after, in another order "
        "than live"
    ),
    "close handling": (
        "the timing of a close handshake the app does not wait for: a receive bounded by "
        "the app's 0.5 s that ends when the client leaves at 1 s, on daphne's reactor "
        "thread; hypercorn's sends after a client's drop (its stream closes several tasks "
        "later), granian's and hypercorn's order of a receive and a second task's close"
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
