"""Other projects' WebSocket tests, run twice: unchanged, then with only the import switched.

    python scripts/upstream_tests.py                    # CI: Starlette's and FastAPI's own
    python scripts/upstream_tests.py --all              # every suite of the registry
    python scripts/upstream_tests.py --suite strawberry --only-ours   # one suite, quickly
    python scripts/upstream_tests.py --all --docs       # and rewrite docs/starlette.md's table
    python scripts/upstream_tests.py --list             # the suites, their pins and styles

The suites are the registry ``tests/upstream/suites.py``: each is pinned, and comes from
its PyPI source distribution or from a commit of its repository (a snapshot brought by
the ``fetch`` tool, read with git; ``--mirrors`` says where, and a suite whose snapshot is
missing is skipped with the command that brings it). Everything is cached in
``.upstream/``: the sources, and one venv per suite (yaat installed editable from this
checkout, their test requirements, and the installed starlette, fastapi, anyio, httpx and
httpx2 as constraints, so every suite runs on the same framework). Starlette's and
FastAPI's own suites run in the current interpreter, whose ``[dev]`` extra has their
needs.

Each suite runs twice, from two copies of its test files: "theirs" unchanged, "ours"
with every ``from starlette.testclient import`` and ``from fastapi.testclient import``
changed into ``from yaat_testing.starlette import``, and nothing else. A probe plugin
(``scripts/upstream_probe.py``) records each test's outcome, time, error and whether it
opened a WebSocket; the WebSocket tests are those that opened one in the run with
Starlette's client. The outcomes of both runs go to ``.upstream/report.json`` (``--only-ours``
keeps the last recorded run of Starlette's client), so that two runs can be diffed.

The exit status is 1 when a WebSocket test passes with Starlette's client and fails with
ours without being recorded in ``tests/upstream/differences.py``, or a recorded one passes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".upstream"
REPORT = CACHE / "report.json"
DOCS = ROOT / "docs" / "starlette.md"
BEGIN, END = "<!-- upstream:begin -->", "<!-- upstream:end -->"
PROBE = Path(__file__).resolve().parent / "upstream_probe.py"
MIRRORS = Path(os.environ.get("YAAT_UPSTREAM_MIRRORS", "/work/.mirror"))
sys.path.insert(0, str(ROOT))

from tests.upstream.differences import DIFFERENCES  # noqa: E402
from tests.upstream.suites import SUITES, Git, Sdist, Suite  # noqa: E402

#: The import line, wherever it is (a conftest, a helper module, inside a function).
IMPORTS = re.compile(r"^(\s*)from (?:starlette|fastapi)\.testclient import ", re.MULTILINE)
DROP_IN = r"\1from yaat_testing.starlette import "
#: What every suite runs on: the current interpreter's versions, as constraints.
FRAMEWORK = ("starlette", "fastapi", "anyio", "httpx", "httpx2", "sniffio")
#: Besides each suite's own requirements: the per-test limit that keeps a hang bounded.
ALWAYS = ("pytest-timeout",)
TEST_TIMEOUT = 120  # seconds; a test of these suites takes well under one
RUNS = ("theirs", "ours")
#: What pytest counts as a success. An xfail is one with Starlette's client (it is what
#: their suite expects); with ours only where it is one with Starlette's too, since a
#: test that passes there and fails here under an xfail marker is a failure here.
PASSED = ("passed", "xfailed", "xpassed")


class Unavailable(Exception):
    """A suite's source cannot be had here; the message says how to bring it."""


# --- sources -----------------------------------------------------------------------------


def source_tree(suite: Suite, mirrors: Path) -> Path:
    """The suite's whole source, extracted once into ``.upstream/sources/``."""
    source = suite.source
    if isinstance(source, Sdist):
        version = source.version or metadata.version(source.project)
        target = CACHE / "sources" / f"{source.project}-{version}"
        if not (target / ".complete").exists():
            _extract_sdist(_download_sdist(source.project, version), target)
    else:
        target = CACHE / "sources" / f"{suite.name}-{source.commit[:12]}"
        if not (target / ".complete").exists():
            _extract_commit(source, target, mirrors, suite.files)
    return target


def _download_sdist(project: str, version: str) -> Path:
    downloads = CACHE / "sdists"
    downloads.mkdir(parents=True, exist_ok=True)
    stem = re.sub(r"[-_.]+", "[-_.]", project)
    pattern = re.compile(rf"{stem}-{re.escape(version)}\.(tar\.gz|zip)", re.IGNORECASE)
    found = [path for path in downloads.iterdir() if pattern.fullmatch(path.name)]
    if not found:
        # --no-binary for this project only: its build backend may come as a wheel.
        pip = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
        pip += ["--no-binary", project, f"{project}=={version}", "-d", str(downloads)]
        subprocess.run(pip, check=True)
        found = [path for path in downloads.iterdir() if pattern.fullmatch(path.name)]
    if not found:
        raise Unavailable(f"pip downloaded no source distribution of {project}=={version}")
    return found[0]


def _extract_sdist(archive: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        for member in tar.getmembers():
            relative = member.name.split("/", 1)[1] if "/" in member.name else ""
            if not relative or not member.isfile():
                continue
            data = tar.extractfile(member)
            assert data is not None
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data.read())
    (target / ".complete").touch()


def _extract_commit(source: Git, target: Path, mirrors: Path, files: tuple[str, ...]) -> None:
    git_dir = mirrors / source.repository.replace("/", "+") / "repo"
    has_commit = git_dir.is_dir() and (
        subprocess.run(
            ["git", "--git-dir", str(git_dir), "cat-file", "-e", f"{source.commit}^{{commit}}"],
            capture_output=True,
            check=False,
        ).returncode
        == 0
    )
    if not has_commit:
        raise Unavailable(
            f"no snapshot of {source.repository} with commit {source.commit} in {mirrors}: "
            f"bring it with the fetch tool (github:{source.repository}), or point "
            "--mirrors (YAAT_UPSTREAM_MIRRORS) at the folder that holds OWNER+NAME/repo"
        )
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    git = ["git", "--git-dir", str(git_dir)]
    archive = subprocess.run([*git, "archive", "--format=tar", source.commit], capture_output=True)
    if archive.returncode != 0:
        # A snapshot may lack its largest files (videos, data): take only the suite's.
        listed = subprocess.run(
            [*git, "ls-tree", "-r", "--name-only", source.commit],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
        patterns = [re.compile(pattern) for pattern in files]
        wanted = [path for path in listed if any(p.fullmatch(path) for p in patterns)]
        archive = subprocess.run(
            [*git, "archive", "--format=tar", source.commit, "--", *wanted],
            capture_output=True,
            check=True,
        )
    with tempfile.TemporaryFile() as buffer:
        buffer.write(archive.stdout)
        buffer.seek(0)
        with tarfile.open(fileobj=buffer) as tar:
            tar.extractall(target, filter="data")
    (target / ".complete").touch()


# --- the environment ---------------------------------------------------------------------


def interpreter(suite: Suite, tree: Path) -> Path:
    """The Python that runs the suite: its own venv, made once, or the current one."""
    if suite.install is None:
        return Path(sys.executable)
    constraints = [f"{name}=={metadata.version(name)}" for name in FRAMEWORK if _installed(name)]
    requirements = [r.replace("{source}", str(tree)) for r in (*suite.install, *ALWAYS)]
    # The framework itself, at the current interpreter's versions (httpx2 included:
    # Starlette's client prefers it, and warns without it).
    requirements += constraints
    key = json.dumps([sys.version, constraints, requirements]).encode()
    directory = CACHE / "venvs" / f"{suite.name}-{hashlib.sha256(key).hexdigest()[:10]}"
    python = directory / "bin" / "python"
    if (directory / ".complete").exists():
        return python
    shutil.rmtree(directory, ignore_errors=True)
    for stale in (CACHE / "venvs").glob(f"{suite.name}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    print(f"[{suite.name}] making its venv in {directory.relative_to(ROOT)}", flush=True)
    started = time.perf_counter()
    venv.create(directory, with_pip=True)
    constraints_file = directory / "constraints.txt"
    constraints_file.write_text("\n".join(constraints) + "\n", encoding="utf-8")
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "-c", str(constraints_file), "-e", str(ROOT), *requirements], check=True)
    (directory / ".complete").touch()
    print(f"[{suite.name}] venv made in {time.perf_counter() - started:.0f} s", flush=True)
    return python


def _installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


# --- a run -------------------------------------------------------------------------------


@dataclass
class Run:
    """One run of a suite's tests: each test's record, and the time it all took."""

    seconds: float
    tests: dict[str, dict[str, object]]
    switched: int  # import lines changed (0 in Starlette's run)
    status: int


def copy_tests(suite: Suite, tree: Path, into: Path, *, switch: bool) -> int:
    """Copy the suite's files; in ours, switch the import. The number of lines switched."""
    switched = 0
    patterns = [re.compile(pattern) for pattern in suite.files]
    for path in sorted(tree.rglob("*")):
        relative = path.relative_to(tree).as_posix()
        if not path.is_file() or not any(p.fullmatch(relative) for p in patterns):
            continue
        target = into / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".py":
            text = path.read_text(encoding="utf-8")
            if switch:
                text, count = IMPORTS.subn(DROP_IN, text)
                switched += count
            target.write_text(text, encoding="utf-8")
        else:
            shutil.copyfile(path, target)
    if suite.ini:
        (into / "pytest.ini").write_text(suite.ini, encoding="utf-8")
    return switched


def run(suite: Suite, python: Path, tree: Path, which: str, scratch: Path, jobs: int) -> Run:
    directory = scratch / suite.name / which
    switched = copy_tests(suite, tree, directory, switch=which == "ours")
    if which == "ours" and switched == 0:
        raise SystemExit(f"[{suite.name}] no import line to switch: check the suite's files")
    probe = scratch / "probe"
    probe.mkdir(exist_ok=True)
    shutil.copyfile(PROBE, probe / PROBE.name)
    outcomes = directory / "outcomes.jsonl"
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(probe), os.environ.get("PYTHONPATH")])),
        "YAAT_UPSTREAM_OUTCOMES": str(outcomes),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    command = [str(python), "-m", "pytest", "-q", "-rN", "-p", "upstream_probe"]
    command += ["-p", "no:cacheprovider", *suite.pytest_args]
    if suite.install is not None:
        command.append(f"--timeout={TEST_TIMEOUT}")
    if jobs > 1:
        command += ["-n", str(jobs)]
    log = directory / "pytest.log"
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out:
        status = subprocess.run(
            command, cwd=directory, env=env, stdout=out, stderr=subprocess.STDOUT, check=False
        ).returncode
    seconds = time.perf_counter() - started
    tests: dict[str, dict[str, object]] = {}
    if outcomes.exists():
        for line in outcomes.read_text(encoding="utf-8").splitlines():
            record = json.loads(line)
            tests[record.pop("test")] = record
    last = log.read_text(encoding="utf-8").strip().splitlines()[-1:] or ["(no output)"]
    print(f"[{suite.name}] {which}: {last[0]}  ({seconds:.1f} s)", flush=True)
    if status not in (0, 1) or not tests:
        tail = "\n".join(log.read_text(encoding="utf-8").splitlines()[-15:])
        print(f"[{suite.name}] {which}: pytest exited with {status}:\n{tail}", flush=True)
    return Run(round(seconds, 2), tests, switched, status)


# --- the report --------------------------------------------------------------------------


def websocket_tests(entry: dict[str, dict[str, object]]) -> list[str]:
    """The WebSocket tests: those that opened one with Starlette's client (else ours)."""
    basis = entry.get("theirs") or entry.get("ours") or {}
    return sorted(name for name, t in basis.get("tests", {}).items() if t["websocket"])


def counts(entry: dict[str, dict[str, object]]) -> dict[str, object]:
    names = websocket_tests(entry)
    row: dict[str, object] = {"tests": len(names)}
    for which in RUNS:
        tests = entry.get(which, {}).get("tests")
        if tests is None:
            row[which] = None
            continue
        row[which] = sum(passes(entry, which, name) for name in names)
        row[f"{which}_seconds"] = entry[which]["seconds"]
    return row


def passes(entry: dict[str, dict[str, object]], which: str, test: str) -> bool:
    """Whether *test* succeeded in the run *which*, by the rule of ``PASSED``."""
    outcome = entry.get(which, {}).get("tests", {}).get(test, {"outcome": "not run"})["outcome"]
    if which == "ours" and outcome == "xfailed":
        theirs = entry.get("theirs", {}).get("tests", {}).get(test, {"outcome": "xfailed"})
        return bool(theirs["outcome"] == "xfailed")
    return outcome in PASSED


def problems(name: str, entry: dict[str, dict[str, object]]) -> list[tuple[str, str]]:
    """(test, what is wrong): tests that pass with Starlette's client and fail with ours
    without being recorded, recorded ones that pass, recorded ones not run.  Every test
    counts, not only the WebSocket ones: inside ``with client:`` the drop-in's portal
    runs the lifespan and HTTP too."""
    found: list[tuple[str, str]] = []
    theirs = entry.get("theirs", {}).get("tests", {})
    ours = entry.get("ours", {}).get("tests", {})
    if not ours:
        return found
    for test in sorted(set(ours) | set(theirs)):
        key = f"{name}:{test}"
        mine = passes(entry, "ours", test)
        theirs_passed = not theirs or passes(entry, "theirs", test)
        if not mine and theirs_passed and key not in DIFFERENCES:
            record = ours.get(test, {"outcome": "not run"})
            found.append((key, str(record.get("error") or record["outcome"])))
        if mine and key in DIFFERENCES:
            found.append((key, "passes, but recorded as a difference"))
    for key in DIFFERENCES:
        suite, _, test = key.partition(":")
        if suite == name and test not in ours:
            found.append((key, "recorded as a difference, but did not run"))
    return found


def print_problems(found: list[tuple[str, str]], *, every: bool) -> None:
    """The problems grouped by their error's first line, biggest group first."""
    groups: dict[str, list[str]] = {}
    for key, error in found:
        groups.setdefault(_shape(error), []).append(key)
    for shape, keys in sorted(groups.items(), key=lambda item: -len(item[1])):
        suites: dict[str, int] = {}
        for key in keys:
            suites[key.partition(":")[0]] = suites.get(key.partition(":")[0], 0) + 1
        where = ", ".join(f"{suite} {count}" for suite, count in suites.items())
        print(f"\n{len(keys)} × {shape}\n    ({where})")
        for key in keys if every else keys[:2]:
            print(f"    {key}")
        if not every and len(keys) > 2:
            print(f"    ... and {len(keys) - 2} more (--every lists them all)")


def _shape(error: str) -> str:
    """An error's first line, without what varies from test to test (quoted values)."""
    return re.sub(r"'[^'\s]*'", "'…'", error)[:240]


def table(report: dict[str, dict[str, dict[str, object]]]) -> str:
    lines = [
        "| suite | pinned | style | WebSocket tests | pass with Starlette's client "
        "| pass with ours | time, Starlette's | time, ours |",
        "|---|---|---|--:|--:|--:|--:|--:|",
    ]
    total = {"tests": 0, "theirs": 0, "ours": 0}
    for name, entry in report.items():
        row = counts(entry)
        cells = []
        for which in RUNS:
            value = row[which]
            cells.append("–" if value is None else str(value))
            total[which] += int(value or 0)
        total["tests"] += int(row["tests"])  # type: ignore[call-overload]
        seconds = [f"{row[f'{w}_seconds']:.1f} s" if row[w] is not None else "–" for w in RUNS]
        lines.append(
            f"| {name} | {entry['pin']} | {entry['style']} | {row['tests']} | "
            f"{cells[0]} | {cells[1]} | {seconds[0]} | {seconds[1]} |"
        )
    share = f" ({100 * total['ours'] / total['tests']:.0f} %)" if total["tests"] else ""
    lines.append(
        f"| **all** | | | **{total['tests']}** | **{total['theirs']}** | "
        f"**{total['ours']}**{share} | | |"
    )
    return "\n".join(lines)


def docs_text(report: dict[str, dict[str, dict[str, object]]]) -> str:
    lines = [table(report), "", "| test | why it fails here |", "|---|---|"]
    for name, why in sorted(DIFFERENCES.items()):
        lines.append(f"| `{name}` | {why} |")
    return "\n".join(lines)


def load_report() -> dict[str, dict[str, dict[str, object]]]:
    if REPORT.exists():
        loaded: dict[str, dict[str, dict[str, object]]] = json.loads(REPORT.read_text("utf-8"))
        return loaded
    return {}


def pin(suite: Suite) -> str:
    source = suite.source
    if isinstance(source, Sdist) and source.version is None:
        return f"{source.project}=={metadata.version(source.project)}"
    return source.pin


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--suite",
        action="append",
        choices=sorted(SUITES),
        metavar="NAME",
        help="run this suite (repeat for more); default: the CI suites",
    )
    parser.add_argument("--all", action="store_true", help="run every suite")
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--only-ours",
        action="store_true",
        help="run only with the import switched; keep the recorded run of Starlette's client",
    )
    choice.add_argument(
        "--only-theirs", action="store_true", help="run only with Starlette's client"
    )
    parser.add_argument(
        "--jobs",
        "-n",
        type=int,
        default=1,
        help="pytest-xdist workers per run (their venvs have no xdist unless "
        "they ask for it; keep it at 2 or less here)",
    )
    parser.add_argument(
        "--docs", action="store_true", help="rewrite the table in docs/starlette.md from the report"
    )
    parser.add_argument(
        "--mirrors",
        type=Path,
        default=MIRRORS,
        help=f"where fetched snapshots are (OWNER+NAME/repo); default {MIRRORS}",
    )
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--every", action="store_true", help="list every failing test")
    parser.add_argument(
        "--recorded",
        action="store_true",
        help="run nothing: print the table and problems of the recorded report",
    )
    parser.add_argument("--list", action="store_true", help="list the suites and exit")
    args = parser.parse_args()
    if args.list:
        for suite in SUITES.values():
            where = "this venv" if suite.install is None else "own venv"
            print(
                f"{suite.name:14} {pin(suite):48} {where:9} {'CI' if suite.ci else '  '} "
                f"{suite.style}"
            )
            for note in suite.notes:
                print(f"{'':14} note: {note}")
        return 0
    if args.all:
        names = list(SUITES)
    elif args.suite:
        names = [name for name in SUITES if name in args.suite]
    else:
        names = [name for name, suite in SUITES.items() if suite.ci]
    runs = [
        w
        for w in RUNS
        if not (args.only_ours and w == "theirs") and not (args.only_theirs and w == "ours")
    ]
    report = load_report()
    if args.recorded:
        names = [name for name in (names if args.suite else SUITES) if name in report]
    scratch = Path(tempfile.mkdtemp(prefix="yaat-upstream-"))
    found: list[tuple[str, str]] = []
    ran: list[str] = []
    try:
        for name in names:
            suite = SUITES[name]
            if args.recorded:
                ran.append(name)
                found += problems(name, report[name])
                continue
            try:
                tree = source_tree(suite, args.mirrors)
            except Unavailable as reason:
                print(f"[{name}] skipped: {reason}", flush=True)
                continue
            try:
                python = interpreter(suite, tree)
            except subprocess.CalledProcessError as error:
                print(f"[{name}] skipped: its venv could not be made ({error})", flush=True)
                continue
            entry = report.get(name, {})
            if entry.get("pin") != pin(suite):
                entry = {}
            entry.update(pin=pin(suite), style=suite.style)
            for which in runs:
                result = run(suite, python, tree, which, scratch, args.jobs)
                entry[which] = {
                    "seconds": result.seconds,
                    "status": result.status,
                    "switched_imports": result.switched,
                    "tests": result.tests,
                }
            report[name] = entry
            ran.append(name)
            found += problems(name, entry)
            # Read again: another run of the script may have recorded other suites since.
            recorded = load_report()
            recorded[name] = entry
            CACHE.mkdir(exist_ok=True)
            REPORT.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n", "utf-8")
    finally:
        if args.keep:
            print(f"scratch directory: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    final = load_report()
    ordered = {name: final[name] for name in SUITES if name in final}
    print()
    print(table({name: ordered[name] for name in ran}))
    print(f"\nper-test outcomes of both runs: {REPORT.relative_to(ROOT)}")
    if found:
        print(
            f"\n{len(found)} problems: tests that pass with Starlette's client and fail with "
            "ours, not recorded in tests/upstream/differences.py (or recorded, and passing):"
        )
        print_problems(found, every=args.every)
    if args.docs:
        text = DOCS.read_text(encoding="utf-8")
        start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
        DOCS.write_text(text[:start] + "\n" + docs_text(ordered) + "\n" + text[end:], "utf-8")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
