"""yaat_testing.plugin, run in isolated pytest sessions with pytester."""

from __future__ import annotations

import pytest

APP = """
import pytest
from yaat import Yaat

app_instance = Yaat()

@app_instance.websocket_route("/ws")
async def ws_handler(websocket):
    await websocket.accept()
    await websocket.send_text("Hello")
    await websocket.close()

@pytest.fixture
def app():
    return app_instance
"""


@pytest.fixture(autouse=True)
def quiet_pytest_asyncio(pytester: pytest.Pytester) -> None:
    # Without it, pytest-asyncio warns in every inner run about its loop scope default.
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


TEST = """
{marker}
async def test_hello(yaat_client):
    async with yaat_client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "Hello"
"""


@pytest.mark.parametrize("mode", ["auto", "strict"])
def test_the_fixture_works_in_both_pytest_asyncio_modes(
    pytester: pytest.Pytester, mode: str
) -> None:
    pytester.makeconftest(APP)
    marker = "import pytest\n@pytest.mark.asyncio" if mode == "strict" else ""
    pytester.makepyfile(TEST.format(marker=marker))
    result = pytester.runpytest(
        "-p",
        "no:cacheprovider",
        f"--asyncio-mode={mode}",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
        "-W",
        "error",
    )
    result.assert_outcomes(passed=1)


def test_the_plugin_is_registered_by_the_entry_point(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--trace-config", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*yaat_testing*"])


def test_report_header_shows_the_timeout(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("--yaat-timeout=2.5")
    result.stdout.fnmatch_lines(["yaat_testing: in memory, as uvicorn, timeout=2.5s"])
    result.assert_outcomes(passed=1)


def test_the_ini_key_sets_the_timeout(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nyaat_timeout = 0.75\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n"
    )
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
async def test_timeout(yaat_client):
    assert yaat_client.timeout == 0.75
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["yaat_testing: in memory, as uvicorn, timeout=0.75s"])
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["soon", "0", "-1", "inf"])
def test_a_bad_timeout_is_a_usage_error_listing_valid_values(
    pytester: pytest.Pytester, value: str
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest(f"--yaat-timeout={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            f"*yaat_timeout must be a positive number of seconds, such as 0.5, 5 or 30; got '{value}'*"
        ]
    )


def test_a_missing_app_fixture_is_explained(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(TEST.format(marker=""))
    result = pytester.runpytest("-p", "no:cacheprovider", "--asyncio-mode=auto")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*the yaat_client fixture needs an `app` fixture returning your ASGI app*"]
    )


def test_a_failing_test_shows_the_transcript(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
async def test_wrong(yaat_client):
    async with yaat_client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "Goodbye"
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--asyncio-mode=auto")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*yaat_testing transcripts*",
            "session 1",
            "*client→app  websocket.connect*",
            "*app→client  websocket.send text='Hello'*",
        ]
    )


def test_a_passing_test_shows_no_transcript(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(TEST.format(marker=""))
    result = pytester.runpytest("-p", "no:cacheprovider", "--asyncio-mode=auto", "-rA")
    result.assert_outcomes(passed=1)
    assert "yaat_testing transcripts" not in result.stdout.str()


def test_importing_the_plugin_without_pytest_asyncio_does_not_break_the_run(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile("def test_nothing():\n    pass\n")
    result = pytester.runpytest("-p", "no:asyncio", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("how", [["--yaat-live"], ["-o", "yaat_live=true"]])
def test_live_mode_runs_the_fixture_against_uvicorn(
    pytester: pytest.Pytester, how: list[str]
) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
import pytest

async def test_live(yaat_client):
    assert yaat_client.live
    async with yaat_client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "Hello"

@pytest.mark.yaat_memory_only("inspects the in-memory transport")
def test_skipped_live():
    pass

@pytest.mark.yaat_memory_only
def test_needs_a_reason():
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--asyncio-mode=auto", "-rs", *how)
    result.stdout.fnmatch_lines(
        [
            "yaat_testing: live (uvicorn), timeout=5s",
            "*in-memory only: inspects the in-memory transport*",
        ]
    )
    result.assert_outcomes(passed=1, skipped=1, errors=1)


def test_the_plugin_changes_no_module_of_the_package(pytester: pytest.Pytester) -> None:
    # The conftest is imported before pytest_configure, so its snapshot is from before
    # the plugin ran; the test compares it with what it sees while it runs, live.
    pytester.makeconftest(
        APP
        + """
import sys
SNAPSHOT = {
    name: dict(vars(module))
    for name, module in sys.modules.items()
    if name.startswith("yaat_testing")
}
"""
    )
    pytester.makepyfile(
        """
import sys
from conftest import SNAPSHOT
from yaat_testing import TestClient

async def test_nothing_changed(app):
    assert TestClient(app).live
    for name, before in SNAPSHOT.items():
        after = vars(sys.modules[name])
        assert [k for k in before if after.get(k) is not before[k]] == [], name
"""
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "--asyncio-mode=auto", "--yaat-live"
    )
    result.assert_outcomes(passed=1)


STRICT_APP = """
import pytest

async def bad_reason(scope, receive, send):
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        try:
            await send({"type": "websocket.close", "code": 1008, "reason": ["a", "list"]})
        except RuntimeError:  # strict: the rule's error; ignored: the server fails as uvicorn does
            pass

@pytest.fixture
def app():
    return bad_reason
"""

STRICT_TESTS = """
import pytest
from yaat_testing import ASGIProtocolError, TestClient, WebSocketDenied

async def closes(client):
    async with client.websocket_connect("/") as ws:
        return await ws.receive_close()

async def test_default(app):
    async with TestClient(app) as client:
        {default}

@pytest.mark.yaat_strict(ignore=["close-reason"])
async def test_marker_ignores(app):
    async with TestClient(app) as client:
        assert await closes(client) == (1006, "")  # what uvicorn does with it

@pytest.mark.yaat_strict(False)
async def test_marker_turns_off(app):
    async with TestClient(app) as client:
        assert await closes(client) == (1006, "")

async def test_the_argument_wins(app):
    async with TestClient(app, strict=True) as client:
        with pytest.raises(ASGIProtocolError, match="close-reason"):
            await closes(client)
"""


@pytest.mark.parametrize(
    ("ini", "default"),
    [
        ("", "with pytest.raises(ASGIProtocolError): await closes(client)"),
        ("yaat_strict_ignore = close-reason", "assert await closes(client) == (1006, '')"),
    ],
)
def test_rules_are_ignored_by_ini_key_and_marker(
    pytester: pytest.Pytester, ini: str, default: str
) -> None:
    pytester.makeini(
        f"[pytest]\nasyncio_default_fixture_loop_scope = function\nasyncio_mode = auto\n{ini}\n"
    )
    pytester.makeconftest(STRICT_APP)
    pytester.makepyfile(STRICT_TESTS.format(default=default))
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=4)
    if ini:
        result.stdout.fnmatch_lines(
            ["yaat_testing: in memory, as uvicorn, timeout=5s, strict but not close-reason"]
        )


def test_unknown_rules_are_a_usage_error_listing_the_rules(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n"
        "yaat_strict_ignore = close-raeson\n"
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stderr.fnmatch_lines(
        [
            "*yaat_strict_ignore: unknown strict rule(s) 'close-raeson'; the rules are: *close-reason*"
        ]
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR


def test_a_bad_marker_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
import pytest

@pytest.mark.yaat_strict("yes")
def test_one():
    pass

@pytest.mark.yaat_strict(ignore=["nope"])
def test_two():
    pass
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(
        [
            "*yaat_strict takes True or False, then ignore=* rule names; got ('yes',)*",
            "*yaat_strict: unknown strict rule(s) 'nope'; the rules are: accept-subprotocol-*",
        ]
    )
    assert result.ret != 0


def test_a_failing_sync_test_shows_its_transcripts(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(
        """
from yaat_testing import TestClient

def test_sync(app):
    with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "Goodbye"
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["*yaat_testing transcripts*", "*app→client  websocket.send text='Hello'*"]
    )


ANYIO_TESTS = """
import pytest
from yaat_testing import TestClient

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request):
    return request.param


def running_library():
    import asyncio
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return "trio"
    return "asyncio"


async def test_async_with(app, anyio_backend):
    assert running_library() == anyio_backend
    async with TestClient(app) as client, client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "Hello"


async def test_the_fixture(yaat_client, anyio_backend):
    assert running_library() == anyio_backend
    async with yaat_client.websocket_connect("/ws") as ws:
        assert await ws.receive_text() == "Hello"
"""


@pytest.mark.parametrize("asyncio_plugin", ["no pytest-asyncio", "pytest-asyncio, strict mode"])
def test_async_tests_run_on_anyios_plugin_on_asyncio_and_trio(
    pytester: pytest.Pytester, asyncio_plugin: str
) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(ANYIO_TESTS)
    plugin = ["-p", "no:asyncio"] if asyncio_plugin == "no pytest-asyncio" else []
    if plugin:
        pytester.makeini("[pytest]\n")  # no pytest-asyncio: its ini key would be unknown
    result = pytester.runpytest("-p", "no:cacheprovider", "-W", "error", *plugin)
    result.assert_outcomes(passed=4)


def test_under_live_mode_a_trio_test_is_skipped_saying_why(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(APP)
    pytester.makepyfile(ANYIO_TESTS)
    pytester.makeini("[pytest]\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "--yaat-live", "-rs")
    result.assert_outcomes(passed=2, skipped=2)
    result.stdout.fnmatch_lines(
        ["*live mode runs on asyncio (the servers and the websockets client), and this test*"]
    )
