"""yaat_testing.portability, and the plugin's yaat_servers: one test, several servers."""

from __future__ import annotations

import pytest

from yaat import Yaat
from yaat.constants import WebSocketCloseEvent as WsClose
from yaat.protocol import WebSocketState
from yaat.websockets import WebSocket
from yaat_testing import Close, TestClient
from yaat_testing.portability import Context, compare, divergences, outcome_on
from yaat_testing.profiles import PROFILES
from yaat_testing.transcript import APP_TO_CLIENT, CLIENT_TO_APP, Transcript

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


def _transcript(*entries: tuple[str, dict[str, object]]) -> Transcript:
    transcript = Transcript()
    for direction, message in entries:
        transcript.record(direction, message)
    return transcript


ACCEPT = (APP_TO_CLIENT, {"type": "websocket.accept"})


def test_divergences_name_every_server_and_what_it_does() -> None:
    found = divergences(
        _transcript(
            ACCEPT,
            (APP_TO_CLIENT, {"type": "websocket.send", "text": "plain"}),  # alike everywhere
            (APP_TO_CLIENT, {"type": "websocket.send", "text": ""}),
            (APP_TO_CLIENT, {"type": "websocket.close", "code": 4000, "reason": "bye"}),
        )
    )
    assert [str(d) for d in found] == [
        "websocket.send text='': sent on uvicorn, uvicorn-wsproto, hypercorn, granian; "
        "not sent: it is empty on daphne",
        "websocket.close code=4000 reason='bye': the client sees 4000 on uvicorn, "
        "uvicorn-wsproto, hypercorn, granian; the client sees 4000 without the reason on daphne",
    ]
    assert found[1].servers == ("uvicorn", "uvicorn-wsproto", "hypercorn", "granian", "daphne")


def test_divergences_say_where_a_servers_live_outcome_is_not_deterministic() -> None:
    # tests/fidelity/corpus.jsonl: on daphne a send after the app's close raised in some
    # live runs and was ignored in others (Twisted's thread races the close handshake)
    (found,) = divergences(
        _transcript(
            ACCEPT,
            (APP_TO_CLIENT, {"type": "websocket.close", "code": 1000}),
            (APP_TO_CLIENT, {"type": "websocket.send", "text": "late"}),
        ),
        servers=["uvicorn", "daphne"],
    )
    assert found.nondeterministic == ("daphne",)
    assert str(found) == (
        "websocket.send text='late' after the app's close: send() raises on uvicorn, daphne; "
        "not deterministic on daphne (its live outcome varied from run to run)"
    )


def test_divergences_follow_the_client_and_its_message_sizes() -> None:
    found = divergences(
        _transcript(
            ACCEPT,
            (CLIENT_TO_APP, {"type": "websocket.receive", "bytes": bytes(2**20 + 1)}),
            (CLIENT_TO_APP, {"type": "websocket.disconnect", "code": 1000}),
            (APP_TO_CLIENT, {"type": "websocket.send", "text": "too late"}),
        ),
        servers=["uvicorn", "hypercorn", "daphne"],
    )
    assert [str(d) for d in found] == [
        "a client message of 1048577 bytes: delivered on uvicorn, hypercorn; over its "
        "1048576-byte limit: closed with 1006 on daphne",
        "websocket.send text='too late' after the client's close: send() raises on uvicorn; "
        "ignored on hypercorn; sent, until the app has received the disconnect on daphne; "
        "not deterministic on daphne (its live outcome varied from run to run)",
    ]


def test_outcome_on_follows_each_profile() -> None:
    open_ = Context(WebSocketState.CONNECTED)
    both = {"type": "websocket.send", "text": "t", "bytes": b"b"}
    assert outcome_on(PROFILES["uvicorn"], open_, both) == "sent as websocket.send bytes=b'b'"
    assert outcome_on(PROFILES["daphne"], open_, both) == "send() raises"
    surrogate = {"type": "websocket.send", "text": "\ud800"}
    assert outcome_on(PROFILES["granian"], open_, surrogate) == "sent as websocket.send text=''"
    headers = {"type": "websocket.accept", "headers": [(b"x-a", b"1")]}
    assert outcome_on(PROFILES["granian"], Context(), headers) == "sent without its headers"
    denial = {"type": "websocket.http.response.body", "body": b"x", "more_body": True}
    assert outcome_on(PROFILES["granian"], Context(WebSocketState.RESPONSE), denial) == (
        "send() raises: one part only"
    )


REPORTED = """
import pytest
from yaat_testing import TestClient

async def app(scope, receive, send):
    await receive()
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": 1008, "reason": "policy"})

async def test_policy_close():
    async with TestClient(app) as client:
        async with client.websocket_connect("/") as ws:
            assert (await ws.receive_close()).code == 1008

async def test_policy_close_again():
    await test_policy_close()
"""


@pytest.mark.parametrize("options", [[], ["-n", "2"]])
def test_the_plugin_reports_what_the_servers_disagree_on_though_the_test_passes(
    pytester: pytest.Pytester, options: list[str]
) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nasyncio_mode = auto\n"
    )
    pytester.makepyfile(REPORTED)
    result = pytester.runpytest("-p", "no:cacheprovider", *options)
    result.assert_outcomes(passed=2)  # on uvicorn, as by default
    result.stdout.fnmatch_lines(
        [
            "*yaat_testing portability*",
            "the apps of 2 test(s) sent 1 message(s) the servers do not all handle alike*",
            "  websocket.close code=1008 reason='policy': the client sees 1008 on uvicorn, "
            "uvicorn-wsproto, hypercorn, granian; send() raises ServerRefused on daphne",
            "    in *.py::test_policy_close and 1 more",
        ]
    )
    full = pytester.runpytest("-p", "no:cacheprovider", "--yaat-portability=full", *options)
    full.stdout.fnmatch_lines(["    in *::test_policy_close, *::test_policy_close_again"])
    off = pytester.runpytest("-p", "no:cacheprovider", "--yaat-portability=off")
    assert "yaat_testing portability" not in off.stdout.str()


def test_the_portability_option_is_checked(pytester: pytest.Pytester) -> None:
    pytester.makeini(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\nasyncio_mode = auto\n"
        "yaat_portability = loud\n"
    )
    pytester.makepyfile(REPORTED)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.stderr.fnmatch_lines(["*yaat_portability: 'loud' is not one of summary, full, off"])
    assert result.ret == pytest.ExitCode.USAGE_ERROR
