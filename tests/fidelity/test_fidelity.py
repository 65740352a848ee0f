"""In memory versus uvicorn: every scenario's client-visible outcome must be equal.

Run against uvicorn's default ``websockets-sansio`` implementation, and against
``wsproto``.  Where wsproto disagrees with sansio, ``WSPROTO_DIFFERS`` records how, and
the harness follows the default implementation.
"""

from __future__ import annotations

import pytest

from tests.fidelity.runners import in_memory, on_uvicorn
from tests.fidelity.scenarios import SCENARIOS, Outcome, Scenario

pytestmark = [
    pytest.mark.live,
    pytest.mark.yaat_memory_only("compares the in-memory harness with uvicorn itself"),
]

# scenario name -> what uvicorn's wsproto implementation shows instead, and why.
# Measured with uvicorn 0.54, wsproto 1.3 and websockets 17.  The harness reports what
# the default (websockets-sansio) shows: an endpoint may not send these codes or a
# reason that long (RFC 6455 §7.4, §5.5), and sansio refuses by dropping the connection.
WSPROTO_DIFFERS: dict[str, tuple[str, dict[str, object]]] = {
    "reserved close code 1006": (
        "wsproto sends a close frame without a code; the client reads 1000",
        {"close": (1000, "")},
    ),
    "reserved close code 1005": (
        "wsproto sends a close frame without a code; the client reads 1000",
        {"close": (1000, "")},
    ),
    "close after the client's close": (
        "wsproto raises ClientDisconnected (an OSError) in send(); sansio ignores the close",
        {"app_saw": ["websocket.disconnect", "raised OSError"]},
    ),
    "oversized close reason": (
        "wsproto cuts the reason to the 123 bytes a close frame can carry and sends it",
        {"close": (1000, "x" * 123)},
    ),
}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_in_memory_matches_uvicorn(scenario: Scenario) -> None:
    truth = await on_uvicorn(scenario)
    assert await in_memory(scenario) == truth


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
async def test_wsproto_matches_or_its_difference_is_recorded(scenario: Scenario) -> None:
    sansio = await on_uvicorn(scenario)
    wsproto = await on_uvicorn(scenario, ws="wsproto")
    if scenario.name in WSPROTO_DIFFERS:
        _, changes = WSPROTO_DIFFERS[scenario.name]
        expected = Outcome(**{**vars(sansio), **changes})  # type: ignore[arg-type]
        assert wsproto == expected
        assert wsproto != sansio
    else:
        assert wsproto == sansio
