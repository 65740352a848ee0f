"""The recorded server matrix: what each scenario's client saw on each real server.

``scripts/fidelity_matrix.py --record`` writes ``matrix.json`` from live runs;
``tests/fidelity/test_fidelity.py`` checks every cell live and in memory against it.
Outcomes are kept in a JSON-safe, normalised form: long payloads by their size and
digest, tuples as lists, int enums (close codes) as ints.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tests.fidelity.scenarios import Outcome

PATH = Path(__file__).with_name("matrix.json")
SERVERS = ("uvicorn", "uvicorn-wsproto", "hypercorn", "granian", "daphne")
_SHORT = 64


def normalise(value: Any) -> Any:
    """*value* as JSON keeps it, with long payloads digested."""
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)  # CloseCode and friends
    if isinstance(value, bytes):
        if len(value) <= _SHORT:
            return {"bytes": value.decode("latin-1")}
        return {"bytes": f"{len(value)} bytes, sha256 {hashlib.sha256(value).hexdigest()[:16]}"}
    if isinstance(value, str):
        if len(value) <= 4 * _SHORT:
            return value
        return f"{len(value)} characters, sha256 {hashlib.sha256(value.encode()).hexdigest()[:16]}"
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [normalise(v) for v in value]
    return repr(value)


def record(outcome: Outcome) -> dict[str, Any]:
    """The outcome as a matrix cell."""
    return {
        "kind": outcome.kind,
        "status": outcome.status,
        "body": normalise(outcome.body),
        "subprotocol": outcome.subprotocol,
        "accept_header": outcome.accept_header,
        "messages": normalise(outcome.messages),
        "close": normalise(outcome.close),
        "app_saw": normalise(outcome.app_saw),
    }


def load() -> dict[str, Any]:
    """The recorded matrix: ``{"scenarios": {name: {server: cell}}, "seconds": ...}``."""
    matrix: dict[str, Any] = json.loads(PATH.read_text(encoding="utf-8"))
    return matrix


def summary(cell: dict[str, Any]) -> str:
    """A cell in a few words, for the docs' table."""
    kind = cell["kind"]
    if kind == "denied":
        text = f"HTTP {cell['status']}"
        body = cell["body"]
        if body and body.get("bytes"):
            text += f" {body['bytes']!r}"
    elif kind == "handshake-failed":
        text = "handshake fails"
    elif kind == "no-handshake":
        text = "no answer"
    else:
        close = cell["close"]
        if close is None:
            text = "never closed"
        else:
            code, reason = close
            text = f"close {code}" + (f" {reason[:24]!r}" if reason else "")
        if cell["messages"]:
            text = f"{len(cell['messages'])} msg, {text}"
    if cell["app_saw"]:
        text += f"; app: {_compact([_message(item) for item in cell['app_saw']])}"
    return text


def _message(item: Any) -> Any:
    """A disconnect the app saw, in a few words: ``"disconnect 4001 'bye'"``."""
    if not (isinstance(item, dict) and item.get("type") == "websocket.disconnect"):
        return item
    words = ["disconnect", str(item.get("code"))]
    if "reason" in item:
        words.append(repr(item["reason"]))
    return " ".join(words)


def _compact(value: Any) -> str:
    shown = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return shown if len(shown) <= 60 else shown[:57] + "..."
