"""Shared fixtures: a real uvicorn server and a private redis-server on loopback, and a
leaked-task check."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import uvicorn

from tests.markdown_examples import MarkdownPage
from tests.redis_server import RedisServer, running_redis
from yaat.types import ASGIApp

pytest_plugins = ["pytester"]


@contextlib.asynccontextmanager
async def serve(
    app: ASGIApp, ws: str = "websockets-sansio", log_level: str = "critical", **config: object
) -> AsyncIterator[str]:
    """Serve *app* with uvicorn on 127.0.0.1 and a free port; yield ``ws://127.0.0.1:PORT``.

    The server runs in the test's own loop and always stops when the block ends.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, ws=ws, log_level=log_level, lifespan="on", **config)  # type: ignore[arg-type]
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            task.result() if task.done() else None
            raise RuntimeError("uvicorn did not start within 5s")
        yield f"ws://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait({task}, timeout=10)
        if not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1)
        sock.close()


@pytest.fixture
async def no_leaked_tasks() -> AsyncIterator[None]:
    """Fail a test that leaves tasks running in its event loop."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)  # let tasks that were cancelled on the way out finish
    leaked = asyncio.all_tasks() - before - {asyncio.current_task()}
    leaked = {t for t in leaked if not t.done()}
    for task in leaked:
        task.cancel()
    assert not leaked, f"the test left {len(leaked)} task(s) running: {leaked!r}"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        function = getattr(item, "function", None)
        if function is not None and inspect.iscoroutinefunction(function):
            item.fixturenames.insert(0, "no_leaked_tasks")  # type: ignore[attr-defined]


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server for this test, stopped after it."""
    try:
        with running_redis() as server:
            yield server
    except FileNotFoundError as missing:
        pytest.fail(str(missing))


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    """The documentation's Python examples are tests (``tests/markdown_examples.py``)."""
    if file_path.suffix == ".md" and (file_path.name == "README.md" or "docs" in file_path.parts):
        return MarkdownPage.from_parent(parent, path=file_path)
    return None
