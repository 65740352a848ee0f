"""Starlette's and FastAPI's own WebSocket tests, run with one change: the import line.

    python scripts/upstream_tests.py            # run them, compare with the record
    python scripts/upstream_tests.py --docs     # and rewrite docs/starlette.md's table

For the installed versions of starlette and fastapi, the script downloads their source
distributions from PyPI (cached in ``.upstream/``), copies the test files that open a
WebSocket into a scratch directory, changes ``from starlette.testclient import`` and
``from fastapi.testclient import`` into ``from yaat_testing.starlette import``, and
runs them.  Nothing of theirs is committed here.

Every test must pass, except those recorded in ``tests/upstream/differences.py``: tests
that assert what no real server does.  The script fails when a recorded test passes, or
when any other test fails.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import xml.etree.ElementTree as ElementTree
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".upstream"
sys.path.insert(0, str(ROOT))

from tests.upstream.differences import DIFFERENCES, FILES  # noqa: E402

IMPORTS = re.compile(r"^from (?:starlette|fastapi)\.testclient import ", re.MULTILINE)
DOCS = ROOT / "docs" / "starlette.md"
BEGIN, END = "<!-- upstream:begin -->", "<!-- upstream:end -->"


def sdist(package: str) -> Path:
    """The source distribution of the installed *package*, downloaded once."""
    version = metadata.version(package)
    CACHE.mkdir(exist_ok=True)
    found = sorted(CACHE.glob(f"{package}-{version}.tar.gz"))
    if not found:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--no-binary",
                ":all:",
                f"{package}=={version}",
                "-d",
                str(CACHE),
            ],
            check=True,
        )
        found = sorted(CACHE.glob(f"{package}-{version}.tar.gz"))
    return found[0]


def unpack(package: str, into: Path) -> Path:
    """The test files of *package* that matter here, the import line changed."""
    archive = sdist(package)
    top = archive.name.removesuffix(".tar.gz")
    target = into / package
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            relative = member.name.removeprefix(top + "/")
            keep = any(re.fullmatch(pattern, relative) for pattern in FILES[package])
            if not keep or not member.isfile():
                continue
            source = tar.extractfile(member)
            assert source is not None
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            text = source.read().decode("utf-8")
            if path.suffix == ".py":
                text = IMPORTS.sub("from yaat_testing.starlette import ", text)
            path.write_text(text, encoding="utf-8")
    (target / "pytest.ini").write_text(
        "[pytest]\n"
        "addopts = -p no:cacheprovider --strict-markers\n"
        "markers =\n    xdist_group: their own marker, for pytest-xdist\n"
        "filterwarnings =\n    error\n"
        "    ignore:Setting per-request cookies:DeprecationWarning\n",
        encoding="utf-8",
    )
    return target


def run(package: str, directory: Path) -> dict[str, str]:
    """Run the tests of *package*; each test id with "passed", "failed" or "skipped"."""
    report = directory / "report.xml"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            f"--junitxml={report}",
            "-p",
            "no:yaat_testing",
            "-p",
            "no:asyncio",  # their tests run on anyio's plugin
            "-k",
            "not trio",  # yaat_testing runs WebSocket sessions on asyncio only
            "tests",
        ],
        cwd=directory,
        check=False,
    )
    outcomes: dict[str, str] = {}
    for case in ElementTree.parse(report).iter("testcase"):
        name = f"{package}:{case.get('classname', '').replace('.', '/')}.py::{case.get('name')}"
        if case.find("failure") is not None or case.find("error") is not None:
            outcomes[name] = "failed"
        elif case.find("skipped") is not None:
            outcomes[name] = "skipped"
        else:
            outcomes[name] = "passed"
    return outcomes


def check(outcomes: dict[str, str]) -> list[str]:
    """What differs from the record: unexpected failures, and recorded tests that pass."""
    problems = []
    for name, outcome in sorted(outcomes.items()):
        recorded = name in DIFFERENCES
        if outcome == "failed" and not recorded:
            problems.append(f"FAILED, not recorded: {name}")
        if outcome == "passed" and recorded:
            problems.append(f"passes, but recorded as a difference: {name}")
    for name in sorted(set(DIFFERENCES) - set(outcomes)):
        problems.append(f"recorded, but did not run: {name}")
    return problems


def docs_table(outcomes: dict[str, str]) -> str:
    """The table of recorded differences, with the counts, for docs/starlette.md."""
    counted = {p: [o for n, o in outcomes.items() if n.startswith(p + ":")] for p in FILES}
    lines = []
    for package, results in counted.items():
        version = metadata.version(package)
        passed = results.count("passed")
        lines.append(
            f"- {package} {version}: {passed} of {len(results) - results.count('skipped')} "
            f"tests pass with the import line changed ({results.count('skipped')} skipped "
            "by their own markers)."
        )
    lines += ["", "| test | why it fails here |", "|---|---|"]
    for name, why in sorted(DIFFERENCES.items()):
        lines.append(f"| `{name}` | {why} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table in docs/starlette.md"
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="yaat-upstream-"))
    try:
        outcomes: dict[str, str] = {}
        for package in FILES:
            outcomes.update(run(package, unpack(package, scratch)))
    finally:
        if args.keep:
            print(f"scratch directory: {scratch}")
        else:
            shutil.rmtree(scratch)
    problems = check(outcomes)
    total = len(outcomes)
    failed = sum(o == "failed" for o in outcomes.values())
    print(f"\n{total} upstream tests: {failed} failed, {len(DIFFERENCES)} recorded as differences")
    for problem in problems:
        print(problem)
    if args.docs:
        text = DOCS.read_text(encoding="utf-8")
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        DOCS.write_text(
            text[:start] + "\n" + docs_table(outcomes) + "\n" + text[end:], encoding="utf-8"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
