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
        ServerProfile(
            "partial", "a partial server", "2.4", (), consequences={"close-code": Consequence.DROP}
        )


def test_uvicorn_raises_in_send_for_every_message_out_of_place() -> None:
    # What a server without the rule does with an illegal message: uvicorn raises
    # RuntimeError in send(); "denial-incomplete" is its one case of dropping instead.
    for rule in STATE_RULES - {"denial-incomplete"}:
        assert UVICORN.consequences[rule] is Consequence.RAISE, rule
    assert UVICORN.consequences["denial-incomplete"] is Consequence.DROP


def test_close_codes_each_server_refuses() -> None:
    from yaat_testing.profiles import DAPHNE, UVICORN_WSPROTO, CloseFix

    assert UVICORN.close_code_fix(1008) is None
    # uvicorn queues the app's disconnect, then websockets refuses the frame: send()
    # raises and the connection stays open (tests/fidelity/corpus.jsonl)
    assert UVICORN.close_code_fix(1006) is CloseFix.QUEUE_THEN_RAISE
    assert UVICORN_WSPROTO.close_code_fix(1005) is CloseFix.CODE_1000
    assert UVICORN_WSPROTO.close_code_fix(1004) is CloseFix.CLIENT_FAILS  # sent as asked
    assert UVICORN_WSPROTO.close_code_fix(999) is CloseFix.DROP
    assert DAPHNE.close_code_fix(1008) is CloseFix.RAISE  # autobahn: 1000 or 3000-4999
    assert DAPHNE.close_code_fix(3000) is None
    assert DAPHNE.scope_fields() == {
        "spec_version": None,
        "state": False,
        "ports as str": False,
        "http_version and scheme": False,
        "extensions": [],
    }


def test_a_profile_must_say_how_it_allows_a_rule() -> None:
    from yaat_testing.profiles import _consequences

    with pytest.raises(
        ValueError, match=r"allows \['header-name-case', 'text-and-bytes'\] without saying how"
    ):
        ServerProfile(
            "vague",
            "a vague server",
            "2.4",
            (),
            consequences=_consequences(text_and_bytes=Consequence.ALLOW),
        )
    with pytest.raises(ValueError, match="no rule 'text-and-bites'"):
        _consequences(text_and_bites=Consequence.ALLOW)
