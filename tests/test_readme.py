"""The README's set-up commands: exactly two, and CI runs the test one verbatim."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def setup_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Set up", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)\n```", section, flags=re.S)


def test_the_readme_has_exactly_two_set_up_commands() -> None:
    serve, test = setup_commands()
    assert "yaat run examples.chat:app" in serve
    assert "pytest" in test


def test_ci_runs_the_readmes_test_command() -> None:
    _, test = setup_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci
