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

#: Why a family of cells differs in memory.
FAMILIES = {
    "flow control": (
        "the client stops reading: with the websockets client's max_queue=16 it stops "
        "reading the socket, so it never reads the server's answer to its close (1006 "
        "after close_timeout) and the server's buffers fill; the in-memory client reads "
        "everything at once"
    ),
    "handshake failed": (
        "the client failed the handshake (a subprotocol it did not offer): live, the "
        "server keeps the app running on a connection nobody reads; in memory the app is "
        "cancelled"
    ),
    "latency": (
        "the client closes or drops at once: live, the app's first calls run before the "
        "server reads the client's close; in memory the close reaches the app first"
    ),
    "racing tasks": (
        "two app tasks interleave with the server's I/O; in memory they interleave by "
        "the test loop's turns, which follow another order"
    ),
    "close handling": (
        "what this server does with this close (its code, its reason, or what follows "
        "it) is not in its profile yet"
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
    if any(step[0] == "spawn" for step in scenario.app):
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
