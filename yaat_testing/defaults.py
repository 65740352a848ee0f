"""The defaults a ``TestClient`` takes from the test that runs it.

>>> with applied(Defaults(live=True)):
...     current().live
True
>>> with applied(Defaults(server="daphne")):
...     current().server, current().live
('daphne', False)

The pytest plugin applies the run's options (``--yaat-live``, ...) and the test's
markers around each phase of each test, through a context variable: nothing global
changes, and a client built outside pytest gets the constructor's defaults.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from yaat_testing.rules import Strict
from yaat_testing.transcript import Transcript


@dataclass(frozen=True)
class Defaults:
    """What ``TestClient(live=None)`` and every session take when not told otherwise."""

    #: Whether sessions run over real sockets against a real server.
    live: bool = False
    #: The server sessions run on (live) or behave as (in memory).
    server: str = "uvicorn"
    #: Which ASGI rules are enforced.
    strict: Strict = field(default_factory=Strict)
    #: Where sessions record their transcripts, for a failing test's report; or ``None``.
    transcripts: list[Transcript] | None = None


_OUTSIDE_PYTEST = Defaults()
_current: ContextVar[Defaults] = ContextVar("yaat_testing_defaults", default=_OUTSIDE_PYTEST)


def current() -> Defaults:
    """The defaults in force here."""
    return _current.get()


@contextlib.contextmanager
def applied(defaults: Defaults) -> Iterator[Defaults]:
    """Put *defaults* in force for the block, and what was there before back after it."""
    token = _current.set(defaults)
    try:
        yield defaults
    finally:
        _current.reset(token)
