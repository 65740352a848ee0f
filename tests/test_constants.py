"""yaat.constants: which close codes and reasons may be sent."""

from __future__ import annotations

import pytest

from yaat.constants import WebSocketCloseEvent, close_code_problem, close_reason_problem


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1011, 1014, 3000, 4999])
def test_sendable_codes(code: int) -> None:
    assert close_code_problem(code) is None


@pytest.mark.parametrize(
    ("code", "problem"),
    [
        (1004, "reserved for reading"),
        (1005, "reserved for reading"),
        (1006, "reserved for reading"),
        (1015, "reserved for reading"),
        (999, "outside the ranges"),
        (2000, "outside the ranges"),
        (5000, "outside the ranges"),
        (True, "must be an int"),
        ("1000", "must be an int"),
    ],
)
def test_unsendable_codes_say_why(code: object, problem: str) -> None:
    message = close_code_problem(code)
    assert message is not None
    assert problem in message


def test_reasons() -> None:
    assert close_reason_problem("x" * 123) is None
    assert close_reason_problem(b"x") == "close reason must be a str, got bytes"
    assert "124 UTF-8 bytes" in (close_reason_problem("x" * 124) or "")


def test_the_enum_is_an_int() -> None:
    assert WebSocketCloseEvent.INTERNAL_ERROR == 1011
    assert isinstance(WebSocketCloseEvent.INTERNAL_ERROR, int)
