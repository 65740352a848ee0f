"""tests/markdown_examples.py: the documentation's examples run, and fail when broken."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.markdown_examples import example_blocks

ROOT = Path(__file__).resolve().parent.parent

CONFTEST = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
from tests.markdown_examples import MarkdownPage

def pytest_collect_file(file_path, parent):
    if file_path.suffix == ".md":
        return MarkdownPage.from_parent(parent, path=file_path)
"""


def test_blocks_are_found_with_their_lines_and_titles() -> None:
    page = 'Text\\n\\n```python\\nx = 1\\n```\\n\\n```sh\\nls\\n```\\n\\n- item\\n\\n    ```python title="test_a.py"\\n    y = 2\\n    ```\\n'
    page = page.replace("\\n", "\n")
    assert example_blocks(page) == [
        (4, "x = 1", None, "python"),
        (14, "y = 2", "test_a.py", "python"),
    ]


def test_titled_blocks_of_other_languages_are_files_and_untitled_ones_are_left_out() -> None:
    page = '```toml title="pyproject.toml"\n[tool.x]\n```\n\n```toml\n[y]\n```\n'
    assert example_blocks(page) == [(2, "[tool.x]", "pyproject.toml", "toml")]


def run(pytester: pytest.Pytester, page: str) -> pytest.RunResult:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest(CONFTEST)
    pytester.makefile(".md", page=page)
    return pytester.runpytest("-p", "no:cacheprovider", "-p", "no:yaat_testing")


def test_blocks_share_the_page_and_their_tests_are_called(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        "```python\nvalue = 41\n```\n\n"
        "```python\nasync def test_async():\n    assert value + 1 == 42\n\n"
        "def test_sync():\n    assert value == 41\n```\n",
    )
    result.assert_outcomes(passed=2)


def test_a_broken_example_fails_with_its_line(pytester: pytest.Pytester) -> None:
    result = run(
        pytester,
        "# A page\n\n```python\ndef test_wrong():\n    assert 1 == 2\n```\n",
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*page.md:4: the example fails*"])


def test_a_test_that_takes_fixtures_must_be_a_file(pytester: pytest.Pytester) -> None:
    result = run(pytester, "```python\ndef test_fixture(tmp_path):\n    pass\n```\n")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*put it in a block titled as a test file*"])


def test_titled_blocks_are_files_that_pytest_runs(pytester: pytest.Pytester) -> None:
    passing = (
        '```python title="conftest.py"\nimport pytest\n\n@pytest.fixture\ndef answer():\n'
        "    return 42\n```\n\n"
        '```python title="test_answer.py"\ndef test_answer(answer):\n    assert answer == 42\n```\n'
    )
    run(pytester, passing).assert_outcomes(passed=2)
    failing = passing.replace("answer == 42", "answer == 0")
    result = run(pytester, failing)
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*pytest on the example test_answer.py failed*"])


def test_titled_tests_run_with_the_configuration_the_page_shows(pytester: pytest.Pytester) -> None:
    test = '```python title="test_async.py"\nasync def test_async():\n    pass\n```\n'
    unconfigured = run(pytester, test)  # no asyncio_mode shown: pytest-asyncio skips it
    unconfigured.assert_outcomes(failed=1)
    configured = (
        '```toml title="pytest.ini"\n[pytest]\nasyncio_mode = auto\n'
        "asyncio_default_fixture_loop_scope = function\n```\n\n" + test
    )
    run(pytester, configured).assert_outcomes(passed=1)
