"""Generated fidelity scenarios: a small grammar of app actions and client actions.

>>> scenario = named()[0]
>>> scenario.app[:2], scenario.client
([['recv'], ['accept', None]], [])

A scenario is data (JSON-safe lists), so the corpus keeps the scenario beside what
every server did with it (``tests/fidelity/corpus.jsonl``), and any cell can be played
again without this module.  ``tests/fidelity/play.py`` interprets it: the app script
as a raw ASGI app, the client script with the ``websockets`` client (live) or a
session of the harness (in memory).

The app's steps::

    ["recv"]                          receive(), bounded: "waited" if nothing came
    ["accept", subprotocol, headers?] websocket.accept
    ["send", kind, size]              websocket.send: kind "text", "uni", "bytes",
                                      "none" (neither key), "both", "text-as-bytes",
                                      "surrogate" (text ending in a lone surrogate,
                                      which UTF-8 cannot encode)
    ["close", code, reason]           websocket.close; code "-" leaves the key out;
                                      reason {"bytes": r} is bytes, {"surrogate": r}
                                      r and a lone surrogate
    ["deny", status, parts, ends]     a denial: its start, then a body part per
                                      size in parts (more_body on all but the last,
                                      and on the last too unless ends)
    ["burst", count, size]            count binary messages of size bytes
    ["sleep", ms]
    ["spawn", steps]                  a second task runs steps, racing the first
    ["join"]                          wait (bounded) for the second task
    ["raise"]                         the app raises; the end of a script returns

The client's steps::

    ["send", kind, size]              a text ("text", "uni") or binary message
    ["recv"]                          read one message, bounded
    ["close", code, reason]           the closing handshake
    ["drop"]                          abort the TCP connection, no close frame
    ["sleep", ms]                     not reading meanwhile (``max_queue`` applies)

After its steps the client reads until the connection ends, or leaves when nothing
comes for a while (then it closes with 1000, as leaving ``async with`` does).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

Step = list[Any]

#: The seed of the corpus: ``generate(SEED, n)`` gives the same scenarios every time.
SEED = 18

MIB = 2**20

#: Close codes of every validity: sendable, reserved for reading, out of range, str.
CLOSE_CODES: tuple[Any, ...] = (
    1000, 1001, 1003, 1007, 1008, 1011, 1012, 1013, 1014,
    3000, 4000, 4999,
    1004, 1005, 1006, 1015,  # reserved: an endpoint never sends them
    1016, 2999, 999, 0, 5000, 65535,  # out of range
    "1000", "4001",  # a str code
    "-",  # no code key
)  # fmt: skip

#: Close reasons: empty, short, unicode, exactly 123 bytes, over 123 bytes, over 123
#: bytes cut mid-character at 123, bytes instead of str, and None.
CLOSE_REASONS: tuple[Any, ...] = (
    "",
    "why",
    "é✓",
    "x" * 123,
    "x" * 124,
    "x" * 200,
    "x" * 122 + "é",  # 124 bytes: the 123rd is the first of "é"
    "é" * 62,  # 124 bytes, and 123 splits the last "é"
    {"bytes": "why"},
    None,
)

CLIENT_CLOSE_REASONS = ("", "bye", "é✓ unicode", "x" * 123)


@dataclass
class Scenario:
    """One generated scenario: the app's script, the client's, what the client offers."""

    name: str
    app: list[Step]
    client: list[Step] = field(default_factory=list)
    subprotocols: list[str] = field(default_factory=list)

    @property
    def racing(self) -> bool:
        """Whether a second task of the app races the first (a ``spawn`` step)."""
        return any(step[0] == "spawn" for step in self.app)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "app": self.app,
            "client": self.client,
            "subprotocols": self.subprotocols,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Scenario:
        return cls(data["name"], data["app"], data["client"], data["subprotocols"])


def _accepted(*steps: Step, client: list[Step] | None = None, **kwargs: Any) -> Scenario:
    return Scenario("", [["recv"], ["accept", None], *steps], client or [], **kwargs)


def named() -> list[Scenario]:
    """The edge cases, by family; each name says what it plays."""
    cases: list[tuple[str, Scenario]] = [("plain accept and return", _accepted())]

    # The app's own close, of every validity, and what its next calls get.
    follow_ups: dict[str, list[Step]] = {
        "then recv": [["recv"]],
        "then recv twice": [["recv"], ["recv"]],
        "then send": [["send", "text", 2], ["recv"]],
        "then close again": [["close", 1000, ""], ["recv"]],
    }
    for code in CLOSE_CODES:
        for reason in CLOSE_REASONS:
            follow = list(follow_ups)[(CLOSE_CODES.index(code) + CLOSE_REASONS.index(reason)) % 4]
            cases.append(
                (
                    f"app close {code!r} {_shown(reason)} {follow}",
                    _accepted(["send", "text", 2], ["close", code, reason], *follow_ups[follow]),
                )
            )
    for code in (1000, 4000, 1005, 999, "1000"):
        for follow, steps in follow_ups.items():
            cases.append(
                (
                    f"app close {code!r} 'why' {follow}, client reads first",
                    _accepted(["close", code, "why"], *steps, client=[["recv"]]),
                )
            )

    # The client's close or drop, then the app's calls.
    app_after: dict[str, list[Step]] = {
        "recv": [["recv"]],
        "recv, recv": [["recv"], ["recv"]],
        "recv, close": [["recv"], ["close", 1000, ""]],
        "recv, close 4000": [["recv"], ["close", 4000, "late"]],
        "recv, send": [["recv"], ["send", "text", 2]],
        "sleep, close": [["sleep", 200], ["close", 1000, ""]],
        "sleep, send": [["sleep", 200], ["send", "text", 2]],
        "sleep, send, recv": [["sleep", 200], ["send", "text", 2], ["recv"]],
        "sleep, close, recv": [["sleep", 200], ["close", 1000, ""], ["recv"]],
        "recv, sleep, close, recv": [["recv"], ["sleep", 100], ["close", 1000, ""], ["recv"]],
    }
    for how in [
        *(
            ["close", code, reason]
            for code in (1000, 1001, 4999)
            for reason in CLIENT_CLOSE_REASONS
        ),
        ["drop"],
    ]:
        for name, steps in app_after.items():
            cases.append(
                (
                    f"client {_step(how)}, app {name}",
                    _accepted(*steps, client=[how]),
                )
            )
    for how in (["close", 1000, ""], ["drop"]):
        cases.append(
            (
                f"client sends then {_step(how)}, app recv x3",
                _accepted(["recv"], ["recv"], ["recv"], client=[["send", "text", 2], how]),
            )
        )

    # Racing tasks.
    races: dict[str, list[Step]] = {
        "close from a task while recv waits": [
            ["spawn", [["sleep", 50], ["close", 4013, "bye"]]],
            ["recv"],
            ["join"],
        ],
        "close from a task while recv waits, then recv": [
            ["spawn", [["sleep", 50], ["close", 4013, "bye"]]],
            ["recv"],
            ["join"],
            ["recv"],
        ],
        "two tasks close at once": [
            ["spawn", [["close", 4001, "one"]]],
            ["close", 4002, "two"],
            ["join"],
            ["recv"],
        ],
        "send from a task while the app closes": [
            ["spawn", [["send", "text", 2]]],
            ["close", 1000, ""],
            ["join"],
            ["recv"],
        ],
        "two tasks recv at once": [
            ["spawn", [["recv"]]],
            ["recv"],
            ["join"],
        ],
        "a task sends while recv waits": [
            ["spawn", [["sleep", 20], ["send", "text", 2], ["sleep", 20], ["send", "bytes", 3]]],
            ["recv"],
            ["join"],
        ],
        "a task closes with a bad code while recv waits": [
            ["spawn", [["sleep", 50], ["close", 1005, ""]]],
            ["recv"],
            ["join"],
        ],
    }
    for name, steps in races.items():
        for client_name, client in {
            "": [],
            ", client sends": [["send", "text", 2]],
            ", client closes": [["sleep", 10], ["close", 1000, ""]],
        }.items():
            cases.append((f"race: {name}{client_name}", _accepted(*steps, client=client)))

    # Denials, in parts, and the app's calls after them.
    for status in (401, 403, 500):
        for parts, ends in (
            ([], True),
            ([0], True),
            ([5], True),
            ([3, 4], True),
            ([0, 4], True),
            ([2, 2, 2], True),
            ([3], False),
        ):
            for after in ([], [["recv"]]):
                cases.append(
                    (
                        f"deny {status} in parts {parts}{'' if ends else ' unfinished'}"
                        f"{', then recv' if after else ''}",
                        Scenario("", [["recv"], ["deny", status, parts, ends], *after]),
                    )
                )
    for code, reason in ((1000, ""), (1008, "no"), (4000, "why")):
        for after in ([], [["recv"]], [["recv"], ["recv"]], [["send", "text", 2]]):
            cases.append(
                (
                    f"close {code} before accept, then {_steps(after)}",
                    Scenario("", [["recv"], ["close", code, reason], *after]),
                )
            )
    for end in ([["raise"]], []):
        cases.append((f"{_steps(end) or 'return'} before accept", Scenario("", [["recv"], *end])))

    # Subprotocols.
    for offered in ([], ["chat"], ["chat", "json"], ["Chat"]):
        for chosen in (None, "chat", "json", "", "CHAT", "mqtt"):
            cases.append(
                (
                    f"offered {offered}, accept {chosen!r}",
                    Scenario(
                        "",
                        [["recv"], ["accept", chosen], ["send", "text", 2], ["recv"]],
                        subprotocols=offered,
                    ),
                )
            )

    # Large messages, both ways.
    for size in (MIB - 1, MIB, MIB + 1, 4 * MIB):
        cases.append(
            (
                f"client sends {size} bytes",
                _accepted(["recv"], ["recv"], client=[["send", "bytes", size]]),
            )
        )
        cases.append(
            (
                f"app sends {size} bytes",
                _accepted(["send", "bytes", size], ["recv"], client=[["recv"]]),
            )
        )
    cases.append(
        ("client sends 4 MiB of text", _accepted(["recv"], client=[["send", "text", 4 * MIB]]))
    )

    # Messages that break the rules, after accept.
    for kind in ("none", "both", "text-as-bytes", "bytes-as-text"):
        cases.append(
            (
                f"app sends {kind}, then recv",
                _accepted(["send", kind, 2], ["send", "text", 2], ["recv"], client=[["recv"]]),
            )
        )

    # Text that UTF-8 cannot encode: a lone surrogate, in a message or a close reason.
    for size in (1, 130):
        cases.append(
            (
                f"app sends {size} characters ending in a lone surrogate, then send, recv",
                _accepted(
                    ["send", "surrogate", size],
                    ["send", "text", 2],
                    ["recv"],
                    client=[["recv"], ["recv"]],
                ),
            )
        )
    cases.append(
        (
            "app sends a lone surrogate, then close, recv",
            _accepted(["send", "surrogate", 1], ["close", 4000, "bye"], ["recv"]),
        )
    )
    for code in (1000, 4000):
        for follow, steps in follow_ups.items():
            cases.append(
                (
                    f"app close {code} with a lone surrogate in the reason {follow}",
                    _accepted(["close", code, {"surrogate": "why"}], *steps),
                )
            )

    # Messages the app has not read when it closes; a client that stops reading.
    for count in (1, 3):
        cases.append(
            (
                f"client sends {count} unread, app closes, then recv",
                _accepted(
                    ["sleep", 100],
                    ["close", 1000, ""],
                    ["recv"],
                    ["recv"],
                    client=[["send", "text", 2]] * count,
                ),
            )
        )
    for count in (10, 17, 40):
        for size in (16, 65536):
            for client_name, client in {
                "then reads": [["sleep", 300]],
                "then closes": [["sleep", 300], ["close", 1000, ""]],
                "then drops": [["sleep", 300], ["drop"]],
            }.items():
                for app_end_name, app_end in {
                    "closes": [["close", 1000, ""], ["recv"]],
                    "waits": [["recv"]],
                }.items():
                    cases.append(
                        (
                            f"client stops reading, app sends {count}x{size} and {app_end_name}, "
                            f"client {client_name}",
                            _accepted(["burst", count, size], *app_end, client=client),
                        )
                    )
    scenarios = []
    for name, scenario in cases:
        scenario.name = name
        scenarios.append(scenario)
    return scenarios


def _shown(reason: Any) -> str:
    if isinstance(reason, str) and len(reason) > 8:
        return (
            f"<{len(reason.encode())} bytes{' ' + repr(reason[-1]) if reason[-1] != 'x' else ''}>"
        )
    return repr(reason)


def _step(step: Step) -> str:
    return " ".join(
        _shown(part) if isinstance(part, str) and part != step[0] else str(part) for part in step
    )


def _steps(steps: list[Step]) -> str:
    return ", ".join(_step(step) for step in steps)


# -- seeded random scripts ------------------------------------------------------------------

_SIZES = (0, 2, 125, 126, 4096, 65536)


def _random_app(rng: random.Random, depth: int = 0) -> list[Step]:
    steps: list[Step] = []
    for _ in range(rng.randint(1, 5)):
        roll = rng.random()
        if roll < 0.25:
            steps.append(["recv"])
        elif roll < 0.5:
            steps.append(["send", rng.choice(("text", "uni", "bytes")), rng.choice(_SIZES)])
        elif roll < 0.68:
            steps.append(
                [
                    "close",
                    rng.choice(CLOSE_CODES[:12] * 3 + CLOSE_CODES),
                    rng.choice(CLOSE_REASONS[:3] * 3 + CLOSE_REASONS),
                ]
            )
        elif roll < 0.75:
            steps.append(["sleep", rng.choice((10, 50, 100))])
        elif roll < 0.83 and depth == 0:
            steps.append(["spawn", _random_app(rng, depth + 1)])
        elif roll < 0.88:
            steps.append(["burst", rng.choice((5, 20)), rng.choice((16, 4096))])
        else:
            steps.append(["recv"])
    if depth == 0:
        if any(step[0] == "spawn" for step in steps):
            steps.append(["join"])
        if rng.random() < 0.1:
            steps.append(["raise"])
    return steps


def _random_client(rng: random.Random, app: list[Step]) -> list[Step]:
    """A client that mostly answers the app (a message for each recv, a read for each
    send), and at some point may close, drop or stop reading."""
    steps: list[Step] = []
    for step in app:
        if step[0] == "recv" and rng.random() < 0.7:
            steps.append(["send", rng.choice(("text", "uni", "bytes")), rng.choice(_SIZES)])
        elif step[0] == "send" and rng.random() < 0.6:
            steps.append(["recv"])
        elif step[0] == "close":
            break
        roll = rng.random()
        if roll < 0.06:
            steps.append(
                ["close", rng.choice((1000, 1001, 4000)), rng.choice(CLIENT_CLOSE_REASONS)]
            )
            break
        if roll < 0.09:
            steps.append(["drop"])
            break
        if roll < 0.13:
            steps.append(["sleep", rng.choice((50, 200))])
    return steps


def generate(seed: int, count: int) -> list[Scenario]:
    """*count* random scenarios; scenario *i* depends on *seed* and *i* alone."""
    scenarios = []
    for index in range(count):
        rng = random.Random(f"{seed}:{index}")
        roll = rng.random()
        subprotocols = rng.choice(([], [], ["chat"], ["chat", "json"]))
        if roll < 0.9:
            chosen = rng.choice([None, None, None, *subprotocols])
            app = [["recv"], ["accept", chosen], *_random_app(rng)]
        elif roll < 0.95:
            app = [["recv"], ["close", rng.choice((1000, 1008, 4000)), ""], *_random_app(rng)]
        else:
            parts = [rng.choice((0, 3)) for _ in range(rng.randint(0, 3))]
            app = [["recv"], ["deny", rng.choice((401, 403)), parts, True], ["recv"]]
        scenarios.append(
            Scenario(f"random {seed}:{index}", app, _random_client(rng, app[2:]), subprotocols)
        )
    return scenarios


def corpus_scenarios(random_count: int = 400) -> list[Scenario]:
    """Every scenario of the corpus, in its order: the named ones, then the random ones."""
    return named() + generate(SEED, random_count)
