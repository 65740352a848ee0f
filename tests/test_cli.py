"""The ``yaat`` console script, run for real as a subprocess."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import signal
import time
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedError

from tests.served import served
from yaat.cli import BOUNDED_PROTOCOL, GRACEFUL_SHUTDOWN_TIMEOUT, main


@pytest.mark.live
async def test_yaat_run_serves_the_demo_app() -> None:
    async with served("examples.chat:app") as server, httpx.AsyncClient() as client:
        response = await client.get(server.http("/"))
    assert response.status_code == 200
    assert "yaat chat" in response.text
    assert "Traceback" not in server.stderr


def test_the_app_must_be_module_colon_attribute(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "examples.chat"]) == 2
    assert "expected 'module:attribute', got 'examples.chat'" in capsys.readouterr().err


def test_yaat_run_is_uvicorns_command_with_yaats_defaults(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--help"]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    assert "Usage: yaat run [OPTIONS] APP" in shown
    for option in (
        "--ws-max-size",
        "--ws-ping-interval",
        "--ws-per-message-deflate",
        "--workers",
        "--limit-concurrency",
        "--timeout-graceful-shutdown",
        "--log-level",
        "--proxy-headers",
        "--forwarded-allow-ips",
        "--root-path",
        "--ssl-certfile",
        "--ws-max-queue",
        "--ws [",
    ):
        assert option in shown
    assert "[default: (the app's largest max_message_size, 1048576 unless it says" in shown
    assert f"graceful shutdown. [default: ({GRACEFUL_SHUTDOWN_TIMEOUT})]" in shown
    assert f"--ws auto is {BOUNDED_PROTOCOL}, uvicorn's websockets-sansio" in shown


def test_yaat_run_serves_with_the_bounded_protocol_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    uvicorn_main = importlib.import_module("uvicorn.main")  # the module, not the command
    served: list[object] = []
    monkeypatch.setattr(uvicorn_main, "run", lambda app, **config: served.append(config["ws"]))
    for options, ws in (
        ([], BOUNDED_PROTOCOL),
        (["--ws", "auto"], BOUNDED_PROTOCOL),
        (["--ws", "wsproto"], "wsproto"),  # an implementation named: uvicorn's own
    ):
        served.clear()
        assert main(["run", "examples.chat:app", *options]) == 0
        assert served == [ws]


def test_a_bad_option_is_uvicorns_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "examples.chat:app", "--ws-max-size", "big"]) == 2
    assert "'big' is not a valid integer" in capsys.readouterr().err


def test_yaat_lists_its_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="0"):
        main(["--help"])
    assert "serve an ASGI app with uvicorn" in capsys.readouterr().out


@pytest.mark.live
async def test_the_server_refuses_a_message_over_the_apps_limit() -> None:
    # The demo's one WebSocket route takes 16 KiB: yaat run gives uvicorn that limit.
    async with served("examples.chat:app") as server:
        async with connect(server.ws("/ws/r?name=x"), compression=None) as ws:
            await ws.recv()  # the join notice
            await ws.recv()  # who is in the room
            await ws.send(json.dumps({"text": "x" * 20_000}))
            with pytest.raises(ConnectionClosedError) as closed:
                await ws.recv()
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code == 1009
    assert "Traceback" not in server.stderr


@pytest.mark.live
@pytest.mark.slow
async def test_compressed_large_messages_leave_the_servers_memory_alone() -> None:
    # 32 clients, each sending 16 MiB of zeros that deflate to 16 KB on the wire.
    async with served("examples.chat:app", "--ws-per-message-deflate", "true") as server:
        before = rss(server.process.pid)

        async def bomb() -> int | None:
            async with connect(server.ws("/ws/bomb"), compression="deflate", max_size=None) as ws:
                await ws.recv()
                await ws.send(bytes(16 * 2**20))
                with contextlib.suppress(ConnectionClosed):
                    async with asyncio.timeout(10):
                        async for _ in ws:  # the others' join notices, then the close
                            pass
                return ws.close_code

        codes = await asyncio.gather(*(bomb() for _ in range(32)))
        grown = rss(server.process.pid) - before
    assert set(codes) == {1009}
    assert grown < 64 * 2**20, f"the server grew by {grown / 2**20:.0f} MiB"


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@pytest.mark.live
@pytest.mark.slow
async def test_sigterm_ends_within_the_bound_whatever_clients_and_handlers_do(
    tmp_path: Path,
) -> None:
    # Plain uvicorn waits for ever here ("Waiting for background tasks to complete"),
    # and on_shutdown never runs: the stubborn handler never ends.
    mark = tmp_path / "shutdown"
    env = {"YAAT_TEST_SHUTDOWN_MARK": str(mark)}
    async with served("tests.apps.shutdown:app", env=env) as server:
        stuck = await connect(server.ws("/ws"), max_queue=1)
        await stuck.send("flood")
        await asyncio.sleep(0.5)
        stuck.transport.pause_reading()  # it never reads again: the server's send waits
        stubborn = await connect(server.ws("/stubborn"))
        readers = [await connect(server.ws("/ws")) for _ in range(2)]
        for ws in readers:
            await ws.send("hello")
            assert await ws.recv() == "hello"
        started = time.monotonic()
        await server.terminate(timeout=GRACEFUL_SHUTDOWN_TIMEOUT + 10)
        took = time.monotonic() - started
        for ws in [*readers, stubborn]:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == 1012  # uvicorn's "service restart"
        stuck.transport.abort()
    assert took < GRACEFUL_SHUTDOWN_TIMEOUT + 5
    assert server.process.returncode == -signal.SIGTERM  # uvicorn re-raises the signal
    assert mark.read_text() == "on_shutdown ran"
