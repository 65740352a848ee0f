"""Every Python example of the documentation runs as a test (see the root conftest.py).

A page's ```` ```python ```` blocks run in order, in one namespace per page, as a
reader runs them: each item runs the blocks before its own, then its own.  The
``test_*`` functions a block defines are then called (``async`` ones in an event loop
of their own).  A block with a ``title="conftest.py"`` or ``title="test_x.py"`` is a
file: the page's files are written to a temporary directory, and pytest runs there,
as a user would run it, with the configuration the page shows and no other: a titled
block of another language (```` ```toml title="pyproject.toml" ````) is a file too.
Shell blocks (```` ```sh ````) are not run.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from yaat_testing import defaults

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)```(?P<info>[^\n`]*)\n(?P<code>.*?)^(?P=indent)```[ \t]*$",
    re.MULTILINE | re.DOTALL,
)
_TITLE = re.compile(r'title="([^"]+)"')
ROOT = Path(__file__).resolve().parent.parent
#: How a titled test file is run: as a user runs pytest, with what the page configures.
_PYTEST = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]


class Block(NamedTuple):
    """One fenced block of a page: Python, or a file of another language."""

    line: int
    code: str
    title: str | None
    language: str = "python"


def example_blocks(text: str) -> list[Block]:
    """The page's ``python`` blocks, and its titled blocks of other languages (files),
    dedented, with the line each starts on."""
    blocks = []
    for match in _FENCE.finditer(text):
        info = match["info"].strip()
        language = info.split(" ", 1)[0]
        title = _TITLE.search(info)
        if language != "python" and title is None:
            continue
        indent = len(match["indent"])
        code = "\n".join(line[indent:] for line in match["code"].splitlines())
        line = text.count("\n", 0, match.start()) + 2
        blocks.append(Block(line, code, title.group(1) if title else None, language))
    return blocks


class MarkdownPage(pytest.File):
    """A documentation page: one item per Python block."""

    def collect(self) -> Iterator[pytest.Item]:
        blocks = example_blocks(self.path.read_text(encoding="utf-8"))
        for index, block in enumerate(blocks):
            if block.language == "python":
                yield Example.from_parent(
                    self, name=f"line {block.line}", blocks=blocks, index=index
                )


class Example(pytest.Item):
    """One block, run after the blocks of its page that come before it."""

    def __init__(self, *, blocks: list[Block], index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.blocks = blocks
        self.index = index

    def runtest(self) -> None:
        block = self.blocks[self.index]
        if block.title is not None:
            self._run_files(block)
            return
        # A reader runs the examples with plain pytest: in memory, on uvicorn's profile,
        # whatever this run's --yaat-live or --yaat-server say.
        with defaults.applied(replace(defaults.current(), live=False, server="uvicorn")):
            self._run_blocks(block)

    def _run_blocks(self, block: Block) -> None:
        namespace: dict[str, Any] = {"__name__": f"docs_example_{self.index}"}
        for earlier in self.blocks[: self.index]:
            if earlier.title is None:
                exec(self._compiled(earlier), namespace)
        before = dict(namespace)
        exec(self._compiled(block), namespace)
        for name, value in namespace.items():
            if name.startswith("test_") and callable(value) and before.get(name) is not value:
                self._call_test(name, value)

    def _compiled(self, block: Block) -> Any:
        # Blank lines first, so that a traceback points at the page's own line numbers.
        return compile("\n" * (block.line - 1) + block.code, str(self.path), "exec")

    def _call_test(self, name: str, test: Any) -> None:
        if inspect.signature(test).parameters:
            raise TypeError(
                f"{name}() in a documentation example takes fixtures: put it in a block "
                'titled as a test file (```python title="test_example.py"), which pytest runs'
            )
        if inspect.iscoroutinefunction(test):
            asyncio.run(test())
        else:
            test()

    def _run_files(self, block: Block) -> None:
        name = Path(block.title or "").name
        if not name.startswith("test_"):
            compile(block.code, name, "exec")  # a conftest.py or module: runs with the tests
            return
        with tempfile.TemporaryDirectory() as directory:
            for earlier in self.blocks[: self.index + 1]:
                if earlier.title is not None:  # the page's files so far, config included
                    (Path(directory) / earlier.title).write_text(earlier.code, encoding="utf-8")
            ran = subprocess.run(
                [*_PYTEST, name],
                cwd=directory,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        if ran.returncode != 0 or " passed" not in ran.stdout:
            raise AssertionError(f"pytest on the example {name} failed:\n{ran.stdout}{ran.stderr}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException]) -> str:  # type: ignore[override]
        block = self.blocks[self.index]
        return f"{self.path}:{block.line}: the example fails\n{excinfo.getrepr(style='short')}"

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.path, self.blocks[self.index].line - 1, f"{self.path.name}: {self.name}"
