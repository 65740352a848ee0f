"""A pytest plugin for ``scripts/upstream_tests.py``: what each test did, one JSON line each.

    YAAT_UPSTREAM_OUTCOMES=out.jsonl pytest -p upstream_probe ...

For every test it appends ``{"test", "outcome", "seconds", "websocket", "error",
"where"}`` to the file: ``websocket`` says whether the test (its fixtures included)
opened a WebSocket through Starlette's ``TestClient.websocket_connect`` or the drop-in's,
so that the script counts the WebSocket tests of a file and leaves the others out;
``error`` is the first line of the failure, ``where`` the file and line that raised it.
One line per test, written as it ends: a run that is killed keeps what it had.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest

_current: dict[str, Any] = {}


def _record(method: Any) -> Any:
    @functools.wraps(method)
    def websocket_connect(*args: Any, **kwargs: Any) -> Any:
        _current["websocket"] = True
        return method(*args, **kwargs)

    websocket_connect.__upstream_probe__ = True  # type: ignore[attr-defined]
    return websocket_connect


def pytest_configure(config: pytest.Config) -> None:
    from starlette import testclient

    classes = [testclient.TestClient]
    try:
        from yaat_testing import starlette as drop_in
    except ImportError:  # the run that keeps Starlette's client needs no yaat_testing
        pass
    else:
        classes.append(drop_in.TestClient)
    for cls in classes:
        method = cls.__dict__.get("websocket_connect")
        if method is not None and not getattr(method, "__upstream_probe__", False):
            cls.websocket_connect = _record(method)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item) -> None:
    _current.clear()
    _current.update(test=item.nodeid, websocket=False, seconds=0.0, phases={})


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.nodeid != _current.get("test"):
        return
    _current["seconds"] += report.duration
    phases = _current["phases"]
    phases[report.when] = report
    if report.when != "teardown":
        return
    outcome, failed = _outcome(phases)
    error, where = "", ""
    if failed is None and outcome == "xfailed":  # the failure their marker expected
        failed = phases.get("call") or phases.get("setup")
    if failed is not None and failed.longrepr is not None:
        crash = getattr(failed.longrepr, "reprcrash", None)
        if crash is not None:
            error = crash.message.strip().splitlines()[0] if crash.message.strip() else ""
            where = f"{Path(crash.path).name}:{crash.lineno}"
        else:
            error = str(failed.longrepr).strip().splitlines()[-1] if failed.longrepr else ""
    line = {
        "test": report.nodeid,
        "outcome": outcome,
        "seconds": round(_current["seconds"], 3),
        "websocket": _current["websocket"],
        "error": error[:500],
        "where": where,
    }
    with open(os.environ["YAAT_UPSTREAM_OUTCOMES"], "a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


def _outcome(phases: dict[str, pytest.TestReport]) -> tuple[str, pytest.TestReport | None]:
    """passed, failed (the test or a fixture), skipped, xfailed or xpassed."""
    for when in ("setup", "call", "teardown"):
        report = phases.get(when)
        if report is None:
            continue
        if report.failed:
            return "failed", report
        if report.skipped:
            return ("xfailed" if hasattr(report, "wasxfail") else "skipped"), None
        if when == "call" and hasattr(report, "wasxfail"):
            return "xpassed", None
    return "passed", None
