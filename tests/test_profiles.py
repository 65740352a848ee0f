"""yaat_testing.profiles: a profile says what its server does for every rule."""

from __future__ import annotations

import pytest

from yaat_testing.profiles import PROFILES, UVICORN, Consequence, ServerProfile
from yaat_testing.rules import RULES, STATE_RULES


def test_every_profile_covers_every_rule() -> None:
    for profile in PROFILES.values():
        assert set(profile.consequences) == set(RULES), profile.name


def test_a_profile_that_forgets_a_rule_is_refused() -> None:
    with pytest.raises(
        ValueError,
        match=r"profile 'partial' says nothing about \['accept-subprotocol-header', 'accept-subprotocol-type', 'app-return-value'",
    ):
        ServerProfile("partial", "a partial server", "2.4", True, {"close-code": Consequence.DROP})


def test_uvicorn_raises_in_send_for_every_message_out_of_place() -> None:
    # What a server without the rule does with an illegal message: uvicorn raises
    # RuntimeError in send(); "denial-incomplete" is its one case of dropping instead.
    for rule in STATE_RULES - {"denial-incomplete"}:
        assert UVICORN.consequences[rule] is Consequence.RAISE, rule
    assert UVICORN.consequences["denial-incomplete"] is Consequence.DROP
