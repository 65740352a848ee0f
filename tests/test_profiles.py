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


def test_what_each_server_does_with_a_close_it_does_not_send_as_asked() -> None:
    from yaat_testing.profiles import (
        DAPHNE,
        GRANIAN,
        HYPERCORN,
        UVICORN_WSPROTO,
        CloseFix,
        client_reads_close,
    )

    send = CloseFix.SEND
    assert UVICORN.close_fix(1008, "why") == (send, 1008, "why")
    # uvicorn queues the app's disconnect, then websockets refuses the frame: send()
    # raises and the connection stays open (tests/fidelity/corpus.jsonl)
    assert UVICORN.close_fix(1006, "")[0] is CloseFix.QUEUE_THEN_RAISE
    assert UVICORN_WSPROTO.close_fix(1005, "why") == (send, 1000, "why")
    assert UVICORN_WSPROTO.close_fix(1004, "") == (send, 1004, "")  # as asked
    assert client_reads_close(1004, "") == (1006, "")  # and the client fails on it
    assert UVICORN_WSPROTO.close_fix("1000", "")[0] is CloseFix.QUEUE_THEN_RAISE_CLOSED
    assert HYPERCORN.close_fix("4001", "x" * 124) == (send, 4001, "x" * 123)
    assert HYPERCORN.close_fix(1000, b"why")[0] is CloseFix.RAISE_CLOSED
    assert GRANIAN.close_fix("4001", b"why") == (send, 1000, "")
    assert DAPHNE.close_fix(1008, "")[0] is CloseFix.RAISE  # autobahn: 1000 or 3000-4999
    assert DAPHNE.close_fix(3000, "why") == (send, 3000, "")  # no reason, ever
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


def test_a_close_a_profile_sends_as_asked_is_judged_by_the_client() -> None:
    import dataclasses

    from yaat_testing.profiles import CloseFix, client_reads_close

    # A profile that lists no fix sends every close as asked; the client fails on what
    # it cannot read, and nothing in between raises.
    plain = dataclasses.replace(UVICORN, name="plain", close_fixes={})
    for code, reason in ((1000, b"why"), (1000, "why\ud800"), ("1000", "why"), (1004, "")):
        fix, sent_code, sent_reason = plain.close_fix(code, reason)
        assert fix is CloseFix.SEND
        assert client_reads_close(sent_code, sent_reason) == (1006, ""), (code, reason)
