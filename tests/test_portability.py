"""yaat_testing.portability, and the plugin's yaat_servers: one test, several servers."""

from __future__ import annotations

import pytest

from yaat import Yaat
from yaat.constants import WebSocketCloseEvent as WsClose
from yaat.websockets import WebSocket
from yaat_testing import Close, TestClient
from yaat_testing.portability import compare

app = Yaat()


@app.websocket_route("/ws")
async def policy(websocket: WebSocket) -> None:
    await websocket.accept()
    await websocket.send_text(await websocket.receive_text())
    await websocket.close(WsClose.POLICY_VIOLATION, "policy")


async def play(client: TestClient) -> list[object]:
    async with client.websocket_connect("/ws") as ws:
        await ws.send_text("hi")
        return [await ws.receive_text(), await ws.receive_close()]


async def test_compare_reports_the_servers_that_differ() -> None:
    report = await compare(app, play, servers=["uvicorn", "hypercorn", "daphne"])
    assert [s.result for s in report.seen[:2]] == [["hi", Close(1008, "policy")]] * 2
    assert report.differing == ["daphne"]  # autobahn sends 1000 or 3000-4999 only: 1011
    assert report.seen[2].result == ["hi", Close(1011, "")]
    assert not report.same
    assert str(report).splitlines() == [
        "uvicorn: ['hi', Close(code=1008, reason='policy')]",
        "hypercorn: ['hi', Close(code=1008, reason='policy')]",
        "daphne: ['hi', Close(code=1011, reason='')]   <- differs from uvicorn",
    ]


async def test_compare_counts_what_play_raised_and_checks_its_servers() -> None:
    async def denied(client: TestClient) -> None:
        async with client.websocket_connect("/nowhere"):
            pass

    report = await compare(app, denied, servers=["uvicorn", "granian"])
    assert report.same
    assert report.seen[0].shown().startswith("raised WebSocketDenied: the WebSocket handshake")
    with pytest.raises(ValueError, match=r"unknown \['nginx'\]; the servers are: daphne, "):
        await compare(app, play, servers=["nginx"])


@pytest.mark.live
async def test_compare_live_on_the_real_servers() -> None:
    report = await compare(app, play, servers=["uvicorn", "daphne"], live=True)
    assert report.differing == ["daphne"]


PORTABLE = """
import pytest
from yaat import Yaat
from yaat.constants import WebSocketCloseEvent as WsClose

app_instance = Yaat()

@app_instance.websocket_route("/ws")
async def policy(websocket):
    await websocket.accept()
    await websocket.close(WsClose.POLICY_VIOLATION)

@pytest.fixture
def app():
    return app_instance
"""

TESTS = """
import pytest
from yaat_testing import TestClient

{marker}
async def test_close_code(yaat_client):
    async with yaat_client.websocket_connect("/ws") as ws:
        assert (await ws.receive_close()).code == 1008

async def test_server_follows_the_option(yaat_server):
    assert TestClient(lambda s, r, x: None).server == yaat_server
"""


@pytest.mark.parametrize(
    ("marker", "options"),
    [
        ('@pytest.mark.yaat_servers("uvicorn", "daphne", "hypercorn")', []),
        ("", ["--yaat-servers=uvicorn,daphne,hypercorn"]),
        # pytest-xdist: the outcomes travel on the reports to the controller.
        ('@pytest.mark.yaat_servers("uvicorn", "daphne", "hypercorn")', ["-n", "2"]),
    ],
)
def test_the_plugin_runs_a_test_on_each_server_and_reports_differences(
    pytester: pytest.Pytester, marker: str, options: list[str]
) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nasyncio_mode = auto\n"
    )
    pytester.makeconftest(PORTABLE)
    pytester.makepyfile(TESTS.format(marker=marker))
    result = pytester.runpytest("-p", "no:cacheprovider", *options)
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*yaat_testing portability*",
            "*test_close_code: passes on hypercorn, uvicorn",
            "  on daphne: failed: *ServerRefused: daphne cannot send close code 1008*",
        ]
    )


def test_the_server_option_and_its_errors(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nasyncio_mode = auto\n"
    )
    pytester.makeconftest(PORTABLE)
    pytester.makepyfile(TESTS.format(marker=""))
    result = pytester.runpytest("-p", "no:cacheprovider", "--yaat-server=daphne")
    result.assert_outcomes(passed=1, failed=1)  # on daphne, 1008 becomes 1011
    result.stdout.fnmatch_lines(["yaat_testing: in memory, as daphne, timeout=5s"])
    bad = pytester.runpytest("-p", "no:cacheprovider", "--yaat-server=nginx")
    bad.stderr.fnmatch_lines(
        ["*yaat_server: unknown server(s) 'nginx'; the servers are: daphne, *"]
    )
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
