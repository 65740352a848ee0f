"""The pytest plugin, registered through the ``pytest11`` entry point.

>>> # conftest.py
>>> @pytest.fixture  # doctest: +SKIP
... def app():
...     return my_app
>>> async def test_hello(yaat_client):  # doctest: +SKIP
...     async with yaat_client.websocket_connect("/ws") as ws:
...         assert await ws.receive_text() == "Hello"

Laid out in hook order: options, configuration, report header, reporting, fixtures.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from typing import Any, TypeVar, cast

import pytest

from yaat_testing import defaults
from yaat_testing.client import TestClient
from yaat_testing.exceptions import LiveModeUnavailable
from yaat_testing.portability import divergences
from yaat_testing.profiles import PROFILES
from yaat_testing.rules import Strict
from yaat_testing.transcript import Transcript

DEFAULT_TIMEOUT = 5.0
#: How the portability report shows the messages servers disagree on.
PORTABILITY_MODES = ("summary", "full", "off")
_SUMMARY_LINES = 10  # the divergences a summary shows, the most frequent first
_SHOWN_TRANSCRIPTS = 5  # the last sessions of a failing test; property tests open hundreds

try:  # Importing the plugin must never break a run: pytest-asyncio is optional.
    import pytest_asyncio
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    pytest_asyncio = None  # type: ignore[assignment]

_F = TypeVar("_F", bound=Callable[..., Any])

#: The run's settings, from options and ini keys.
_TIMEOUT_KEY = pytest.StashKey[float]()
_LIVE_KEY = pytest.StashKey[bool]()
_STRICT_KEY = pytest.StashKey[Strict]()
_SERVER_KEY = pytest.StashKey[str]()
_SERVERS_KEY = pytest.StashKey[tuple[str, ...]]()
#: Portability: test id without its server -> server -> (outcome, first line of failure).
_OUTCOMES_KEY = pytest.StashKey[dict[str, dict[str, tuple[str, str]]]]()
_PORTABILITY = "yaat_testing: server"  # the report's user property: (test, server)
#: The report's user property for what the servers disagree on: (test, [divergence]).
_DIVERGENCES = "yaat_testing: divergences"
_PORTABILITY_MODE_KEY = pytest.StashKey[str]()
#: Divergence, as text -> the tests whose apps did it.
_DIVERGED_KEY = pytest.StashKey[dict[str, list[str]]]()
#: A test's transcripts, kept from its setup to its last report.
_TRANSCRIPTS_KEY = pytest.StashKey[list[Transcript]]()
_ITEM_STRICT_KEY = pytest.StashKey[Strict]()


def _async_fixture(function: _F) -> _F:
    # pytest_asyncio.fixture works in both its strict and auto modes.
    decorator: Any = pytest.fixture if pytest_asyncio is None else pytest_asyncio.fixture
    fixture: _F = decorator(function)
    return fixture


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("yaat", "yaat_testing: in-memory WebSocket tests")
    group.addoption(
        "--yaat-timeout",
        dest="yaat_timeout",
        default=None,
        metavar="SECONDS",
        help=f"default timeout of every yaat_client wait (ini: yaat_timeout; default {DEFAULT_TIMEOUT})",
    )
    group.addoption(
        "--yaat-live",
        dest="yaat_live",
        action="store_true",
        default=None,
        help="run TestClient sessions over real sockets against uvicorn (ini: yaat_live)",
    )
    group.addoption(
        "--yaat-server",
        dest="yaat_server",
        default=None,
        metavar="NAME",
        help="the server TestClient sessions run on (live) or behave as (in memory): "
        f"{', '.join(sorted(PROFILES))} (ini: yaat_server; default uvicorn)",
    )
    group.addoption(
        "--yaat-servers",
        dest="yaat_servers",
        default=None,
        metavar="NAMES",
        help="run each test that uses yaat_client on these servers (comma-separated, or "
        "'all'), and report where outcomes differ (ini: yaat_servers)",
    )
    group.addoption(
        "--yaat-portability",
        dest="yaat_portability",
        default=None,
        choices=PORTABILITY_MODES,
        help="report the messages of apps that the servers do not all handle alike: "
        "'summary' (the first few), 'full', or 'off' (ini: yaat_portability; default summary)",
    )
    parser.addini("yaat_server", default="uvicorn", help="the server sessions run on or behave as")
    parser.addini(
        "yaat_portability",
        default="summary",
        help="report the apps' messages the servers do not all handle alike: summary, full, off",
    )
    parser.addini(
        "yaat_servers",
        type="args",
        default=[],
        help="the servers each test that uses yaat_client runs on, for a portability report",
    )
    parser.addini(
        "yaat_live",
        type="bool",
        default=False,
        help="run TestClient sessions over real sockets against uvicorn",
    )
    parser.addini(
        "yaat_strict_ignore",
        type="args",
        default=[],
        help="ASGI rules strict mode does not enforce, e.g. close-reason header-name-case",
    )
    parser.addini(
        "yaat_timeout",
        help=f"default timeout in seconds of every yaat_client wait (default {DEFAULT_TIMEOUT})",
        default=str(DEFAULT_TIMEOUT),
    )


def _timeout(config: pytest.Config) -> float:
    raw = config.getoption("yaat_timeout") or config.getini("yaat_timeout")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise pytest.UsageError(
            f"yaat_timeout must be a positive number of seconds, such as 0.5, 5 or 30; got {raw!r}"
        )
    return value


def _strict(ignore: object, where: str) -> Strict:
    try:
        return Strict(ignore)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise pytest.UsageError(f"{where}: {exc}") from None


def _server_names(names: object, where: str) -> tuple[str, ...]:
    listed = [n for n in (names if isinstance(names, (list, tuple)) else [names]) if n]
    if listed == ["all"]:
        return tuple(PROFILES)
    unknown = sorted(set(map(str, listed)) - set(PROFILES))
    if unknown or not listed:
        raise pytest.UsageError(
            f"{where}: unknown server(s) {', '.join(map(repr, unknown or listed))}; the servers "
            f"are: {', '.join(sorted(PROFILES))}, or 'all'"
        )
    return tuple(str(n) for n in listed)


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_TIMEOUT_KEY] = _timeout(config)
    server = config.getoption("yaat_server") or config.getini("yaat_server")
    config.stash[_SERVER_KEY] = _server_names(server, "yaat_server")[0]
    servers = config.getoption("yaat_servers")
    servers = servers.split(",") if servers else config.getini("yaat_servers")
    config.stash[_SERVERS_KEY] = _server_names(servers, "yaat_servers") if servers else ()
    config.stash[_OUTCOMES_KEY] = {}
    config.stash[_DIVERGED_KEY] = {}
    mode = config.getoption("yaat_portability") or config.getini("yaat_portability")
    if mode not in PORTABILITY_MODES:
        raise pytest.UsageError(
            f"yaat_portability: {mode!r} is not one of {', '.join(PORTABILITY_MODES)}"
        )
    config.stash[_PORTABILITY_MODE_KEY] = mode
    config.pluginmanager.register(_PortabilityRecorder(config), "yaat_testing.portability")
    config.stash[_STRICT_KEY] = _strict(config.getini("yaat_strict_ignore"), "yaat_strict_ignore")
    live = config.getoption("yaat_live")
    config.stash[_LIVE_KEY] = bool(config.getini("yaat_live") if live is None else live)
    config.addinivalue_line(
        "markers",
        "yaat_memory_only(reason): needs the in-memory transport; skipped with the reason under --yaat-live",
    )
    config.addinivalue_line(
        "markers",
        "yaat_strict(enabled=True, *, ignore=()): the ASGI rules this test's clients enforce: "
        "all, none (False), or all but those in ignore",
    )
    config.addinivalue_line(
        "markers",
        "yaat_servers(*names): run this test on each of these servers ('all' for every one), "
        "and report where the outcomes differ",
    )


def pytest_report_header(config: pytest.Config) -> str:
    mode = (
        "" if pytest_asyncio is not None else " (pytest-asyncio missing: yaat_client unavailable)"
    )
    server = config.stash[_SERVER_KEY]
    live = f"live ({server})" if config.stash[_LIVE_KEY] else f"in memory, as {server}"
    ignored = sorted(config.stash[_STRICT_KEY].ignore)
    strict = f", strict but not {', '.join(ignored)}" if ignored else ""
    servers = config.stash[_SERVERS_KEY]
    each = f", each on {', '.join(servers)}" if servers else ""
    return f"yaat_testing: {live}, timeout={config.stash[_TIMEOUT_KEY]:g}s{strict}{each}{mode}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run a test on several servers: its ``yaat_servers`` marker, or ``--yaat-servers``."""
    marker = metafunc.definition.get_closest_marker("yaat_servers")
    if marker is not None:
        servers = _server_names(list(marker.args), f"{metafunc.definition.nodeid}: yaat_servers")
    elif "yaat_client" in metafunc.fixturenames:
        servers = metafunc.config.stash[_SERVERS_KEY]
    else:
        return
    if not servers:
        return
    if "yaat_server" not in metafunc.fixturenames:
        metafunc.fixturenames.append("yaat_server")
    metafunc.parametrize("yaat_server", servers, ids=list(servers))


def _item_server(item: pytest.Item) -> str:
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "yaat_server" in callspec.params:
        server: str = callspec.params["yaat_server"]
        return server
    return item.config.stash[_SERVER_KEY]


def _item_strict(item: pytest.Item) -> Strict:
    """The run's strictness, changed by the item's ``yaat_strict`` marker if it has one."""
    run = item.config.stash[_STRICT_KEY]
    marker = item.get_closest_marker("yaat_strict")
    if marker is None:
        return run
    where = f"{item.nodeid}: @pytest.mark.yaat_strict"
    enabled = marker.args[0] if marker.args else marker.kwargs.get("enabled", True)
    if not isinstance(enabled, bool) or len(marker.args) > 1:
        raise pytest.UsageError(
            f"{where} takes True or False, then ignore=[...] rule names; got {marker.args!r}"
        )
    ignore = _strict(marker.kwargs.get("ignore", ()), where)
    return Strict.of(False) if not enabled else Strict(run.ignore | ignore.ignore)


def _defaults(item: pytest.Item) -> defaults.Defaults:
    """What every TestClient of *item* takes by default: the run's mode, the item's log."""
    return defaults.Defaults(
        live=item.config.stash[_LIVE_KEY],
        server=_item_server(item),
        strict=item.stash[_ITEM_STRICT_KEY],
        transcripts=item.stash[_TRANSCRIPTS_KEY],
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Generator[None, None, None]:
    item.stash[_ITEM_STRICT_KEY] = _item_strict(item)
    item.stash[_TRANSCRIPTS_KEY] = []
    marker = item.get_closest_marker("yaat_memory_only")
    if marker is not None and item.config.stash[_LIVE_KEY]:
        reason = marker.args[0] if marker.args else marker.kwargs.get("reason", "")
        if not reason:
            raise pytest.UsageError(f"{item.nodeid}: yaat_memory_only needs a reason")
        pytest.skip(f"in-memory only: {reason}")
    with defaults.applied(_defaults(item)), _skipped_where_live_cannot_run(item):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    with defaults.applied(_defaults(item)), _skipped_where_live_cannot_run(item):
        return (yield)


@contextlib.contextmanager
def _skipped_where_live_cannot_run(item: pytest.Item) -> Iterator[None]:
    """Under ``--yaat-live``, a test on trio is skipped, saying why: live mode runs on
    asyncio.  A test that asks for live mode itself gets the error."""
    try:
        yield
    except LiveModeUnavailable as unavailable:
        if not item.config.stash[_LIVE_KEY]:
            raise
        pytest.skip(str(unavailable))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    if _TRANSCRIPTS_KEY not in item.stash:  # setup never ran this far
        return (yield)
    with defaults.applied(_defaults(item)):
        return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    callspec = getattr(item, "callspec", None)
    if callspec is not None and "yaat_server" in callspec.params and report.when == "call":
        # On the report, not in this process's stash: under pytest-xdist the report
        # travels to the controller, which prints the portability summary.
        base = item.nodeid.split("[", 1)[0] + _other_params(callspec.params)
        report.user_properties.append((_PORTABILITY, (base, callspec.params["yaat_server"])))
    transcripts = item.stash.get(_TRANSCRIPTS_KEY, None)
    if report.when == "call" and transcripts and item.config.stash[_PORTABILITY_MODE_KEY] != "off":
        found = {str(d) for transcript in transcripts for d in divergences(transcript)}
        if found:  # on the report, for pytest-xdist's controller
            report.user_properties.append((_DIVERGENCES, (item.nodeid, sorted(found))))
    if report.failed and transcripts:
        shown = transcripts[-_SHOWN_TRANSCRIPTS:]
        first = len(transcripts) - len(shown) + 1
        text = "\n\n".join(f"session {i}\n{t}" for i, t in enumerate(shown, first))
        if first > 1:
            text = f"({first - 1} earlier sessions not shown)\n\n{text}"
        report.sections.append(("yaat_testing transcripts", text))
    return report


def _other_params(params: dict[str, Any]) -> str:
    others = [f"{k}={v}" for k, v in params.items() if k != "yaat_server"]
    return f"[{', '.join(others)}]" if others else ""


class _PortabilityRecorder:
    """Collects the outcome of each test on each server, from the reports."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        for name, value in report.user_properties:
            if name == _DIVERGENCES:
                test, found = cast("tuple[str, list[str]]", value)
                for divergence in found:
                    self.config.stash[_DIVERGED_KEY].setdefault(divergence, []).append(test)
            if name != _PORTABILITY:
                continue
            base, server = cast("tuple[str, str]", value)
            crash = getattr(report.longrepr, "reprcrash", None)
            failure = (
                (crash.message if crash else report.longreprtext).splitlines()[0]
                if report.failed
                else ""
            )
            outcomes = self.config.stash[_OUTCOMES_KEY].setdefault(base, {})
            outcomes[server] = (report.outcome, failure)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Where a test's outcome differs between servers, and what the apps did that the
    servers do not all handle alike: the questions before switching."""
    diverged = config.stash[_DIVERGED_KEY]
    if not config.stash[_OUTCOMES_KEY] and not diverged:
        return
    terminalreporter.section("yaat_testing portability")
    if diverged:
        _write_divergences(terminalreporter, config, diverged)
    if not config.stash[_OUTCOMES_KEY]:
        return
    differing = {
        test: outcomes
        for test, outcomes in config.stash[_OUTCOMES_KEY].items()
        if len({outcome for outcome, _ in outcomes.values()}) > 1
    }
    if not differing:
        count = len(config.stash[_OUTCOMES_KEY])
        terminalreporter.write_line(f"{count} test(s) ran on several servers: same outcome on each")
        return
    for test, outcomes in sorted(differing.items()):
        passed = sorted(s for s, (o, _) in outcomes.items() if o == "passed")
        terminalreporter.write_line(f"{test}: passes on {', '.join(passed) or 'none'}")
        for server, (outcome, failure) in sorted(outcomes.items()):
            if outcome != "passed":
                terminalreporter.write_line(f"  on {server}: {outcome}: {failure}")


def _write_divergences(writer: Any, config: pytest.Config, diverged: dict[str, list[str]]) -> None:
    """The messages servers disagree on, the most frequent first, each with its tests."""
    tests = {test for found in diverged.values() for test in found}
    writer.write_line(
        f"the apps of {len(tests)} test(s) sent {len(diverged)} message(s) the servers do not "
        "all handle alike (yaat_testing.portability.divergences):"
    )
    ranked = sorted(diverged.items(), key=lambda pair: (-len(pair[1]), pair[0]))
    full = config.stash[_PORTABILITY_MODE_KEY] == "full"
    for divergence, found in ranked if full else ranked[:_SUMMARY_LINES]:
        writer.write_line(f"  {divergence}")
        found = sorted(found)
        shown = found if full else found[:1]
        more = "" if full or len(found) == 1 else f" and {len(found) - 1} more"
        writer.write_line(f"    in {', '.join(shown)}{more}")
    if not full and len(ranked) > _SUMMARY_LINES:
        writer.write_line(
            f"  ... and {len(ranked) - _SUMMARY_LINES} more: --yaat-portability=full lists them all"
        )


@pytest.fixture
def yaat_server(request: pytest.FixtureRequest) -> str:
    """The server this test runs on, or behaves as: ``--yaat-server``, or one of its
    ``yaat_servers``."""
    param = getattr(request, "param", None)
    return str(param) if param is not None else request.config.stash[_SERVER_KEY]


@pytest.fixture
def yaat_client(request: pytest.FixtureRequest) -> TestClient:
    """A started :class:`TestClient` for the ``app`` fixture, with the configured timeout.

    It is started in the test's own event loop: pytest-asyncio's (auto or strict mode),
    or anyio's on asyncio or trio for a test that uses anyio's pytest plugin.
    """
    anyio_test = "anyio_backend" in request.fixturenames
    if not anyio_test and pytest_asyncio is None:  # pragma: no cover - without pytest-asyncio
        raise pytest.UsageError(
            "the yaat_client fixture needs pytest-asyncio, or anyio's pytest plugin with "
            "@pytest.mark.anyio: pip install pytest-asyncio"
        )
    client: TestClient = request.getfixturevalue(
        "_yaat_client_anyio" if anyio_test else "_yaat_client_asyncio"
    )
    return client


@contextlib.asynccontextmanager
async def _started_client(request: pytest.FixtureRequest) -> AsyncIterator[TestClient]:
    try:
        app = request.getfixturevalue("app")
    except pytest.FixtureLookupError:
        raise pytest.UsageError(
            "the yaat_client fixture needs an `app` fixture returning your ASGI app; add to "
            "conftest.py:\n\n    @pytest.fixture\n    def app():\n        return my_app\n"
        ) from None
    server = request.getfixturevalue("yaat_server")
    async with TestClient(app, timeout=request.config.stash[_TIMEOUT_KEY], server=server) as client:
        yield client


@_async_fixture
async def _yaat_client_asyncio(request: pytest.FixtureRequest) -> AsyncIterator[TestClient]:
    """``yaat_client`` for pytest-asyncio's tests, started in its loop."""
    async with _started_client(request) as client:
        yield client


@pytest.fixture
async def _yaat_client_anyio(request: pytest.FixtureRequest) -> AsyncIterator[TestClient]:
    """``yaat_client`` for anyio's tests: a plain async fixture, which anyio's plugin runs
    in the test's own loop, asyncio's or trio's."""
    async with _started_client(request) as client:
        yield client
