"""The ``yaat`` console script, run for real as a subprocess."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.served import served
from yaat.cli import build_parser, main

ROOT = Path(__file__).resolve().parent.parent


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


def test_the_parser_documents_its_options() -> None:
    args = build_parser().parse_args(
        ["run", "m:app", "--host", "0.0.0.0", "--port", "9000", "--reload"]
    )
    assert (args.app, args.host, args.port, args.reload) == ("m:app", "0.0.0.0", 9000, True)
    with pytest.raises(SystemExit, match="2"):
        build_parser().parse_args([])
