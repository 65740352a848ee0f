"""The ``yaat`` console script, run for real as a subprocess."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

import httpx
import pytest

from yaat.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.live
async def test_yaat_run_serves_the_demo_app() -> None:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        *[sys.executable, "-m", "yaat.cli", "run", "examples.chat:app", "--port", str(port)],
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    response = await client.get(f"http://127.0.0.1:{port}/")
                    break
                except httpx.ConnectError:
                    await asyncio.sleep(0.05)
            else:
                pytest.fail("yaat run did not start within 10 s")
        assert response.status_code == 200
        assert "yaat chat" in response.text
    finally:
        process.terminate()
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=10)
    assert b"Traceback" not in stderr


def test_the_app_must_be_module_colon_attribute(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "examples.chat"]) == 2
    assert "expected 'module:attribute', got 'examples.chat'" in capsys.readouterr().err


def test_the_parser_documents_its_options() -> None:
    args = build_parser().parse_args(
        ["run", "m:app", "--host", "0.0.0.0", "--port", "9000", "--reload"]
    )
    assert (args.app, args.host, args.port, args.reload) == ("m:app", "0.0.0.0", 9000, True)
    with pytest.raises(SystemExit, match="2"):
        build_parser().parse_args([])
