"""The transcript of a session: every message both ways, with times.

>>> transcript = Transcript()
>>> transcript.record(CLIENT_TO_APP, {"type": "websocket.receive", "text": "hi"})
>>> [entry.direction for entry in transcript.entries]
['client→app']
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

CLIENT_TO_APP = "client→app"
APP_TO_CLIENT = "app→client"

_SHOWN = 200  # the last messages a printed transcript shows


@dataclass
class TranscriptEntry:
    """One message on the wire: when, which way, the ASGI message, and a note on it."""

    at: float
    direction: str  # CLIENT_TO_APP or APP_TO_CLIENT
    message: Mapping[str, Any]
    #: What the test did with it, e.g. ``"skipped"`` by ``receive_matching()``.
    note: str = ""

    def __str__(self) -> str:
        note = f"  [{self.note}]" if self.note else ""
        return f"{self.at * 1000:9.3f}ms  {self.direction}  {describe(self.message)}{note}"


class Transcript:
    """Every message of one session, both ways, with times relative to its start.

    Recording is on the hot path of every message, so it stores plain tuples;
    :attr:`entries` turns them into :class:`TranscriptEntry` objects when read.
    """

    __slots__ = ("_notes", "_raw", "started")

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self._raw: list[tuple[float, str, Mapping[str, Any]]] = []
        self._notes: dict[int, str] | None = None  # made by the first note()

    def record(self, direction: str, message: Mapping[str, Any]) -> None:
        """Add *message*, going *direction*, stamped with the current time."""
        self._raw.append((time.perf_counter(), direction, message))

    def note(self, message: Mapping[str, Any], note: str) -> None:
        """Note *note* on the latest entry of *message* (the very object recorded)."""
        for index in range(len(self._raw) - 1, -1, -1):
            if self._raw[index][2] is message:
                if self._notes is None:
                    self._notes = {}
                self._notes[index] = note
                return

    @property
    def entries(self) -> list[TranscriptEntry]:
        """The messages so far: ``at`` (seconds since the start), ``direction``, ``message``."""
        started, notes = self.started, self._notes or {}
        return [
            TranscriptEntry(at - started, direction, message, notes.get(index, ""))
            for index, (at, direction, message) in enumerate(self._raw)
        ]

    def __str__(self) -> str:
        entries = self.entries
        lines = [str(e) for e in entries[-_SHOWN:]]
        if len(entries) > _SHOWN:
            lines.insert(0, f"... {len(entries) - _SHOWN} earlier messages")
        return "transcript:\n" + "\n".join("  " + line for line in lines or ["(no messages)"])


def describe(message: Mapping[str, Any]) -> str:
    """A one-line summary of an ASGI message for transcripts and errors.

    >>> describe({"type": "websocket.send", "text": "hi"})
    "websocket.send text='hi'"
    """
    if not isinstance(message, Mapping):
        return repr(message)[:120]
    parts = [str(message.get("type"))]
    for key, value in message.items():
        if key == "type":
            continue
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        parts.append(f"{key}={shown}")
    return " ".join(parts)
