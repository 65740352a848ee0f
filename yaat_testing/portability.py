"""Will it behave the same on another server?  One play, run against several servers.

>>> async def play(client):  # doctest: +SKIP
...     async with client.websocket_connect("/ws") as ws:
...         await ws.send_text("hi")
...         return [await ws.receive_text(), await ws.receive_close()]
>>> report = await compare(app, play, servers=["uvicorn", "daphne"])  # doctest: +SKIP
>>> print(report)  # doctest: +SKIP
uvicorn: ['hi', Close(code=1008, reason='policy')]
daphne: ['hi', Close(code=1011, reason='')]   <- differs from uvicorn

*play* gets a started ``TestClient`` per server (its profile in memory, or the real
server with ``live=True``) and returns what it saw; an exception it raises is what it
saw too.  The pytest side of the same question is ``@pytest.mark.yaat_servers(...)``
or ``--yaat-servers``, with a report of the tests whose outcome differs.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from yaat.types import ASGIApp
from yaat_testing.client import TestClient
from yaat_testing.profiles import PROFILES

Play = Callable[[TestClient], Awaitable[Any]]


@dataclass(frozen=True)
class Seen:
    """What a play saw on one server: what it returned, or what it raised."""

    server: str
    result: Any = None
    error: BaseException | None = None

    def shown(self) -> str:
        """In a few words."""
        if self.error is not None:
            return f"raised {type(self.error).__name__}: {self.error}".splitlines()[0]
        return repr(self.result)

    def same_as(self, other: Seen) -> bool:
        """Whether both saw the same: an equal result, or an error of the same type."""
        if self.error is not None or other.error is not None:
            return type(self.error) is type(other.error) and (
                str(self.error).splitlines()[:1] == str(other.error).splitlines()[:1]
            )
        return bool(self.result == other.result)


@dataclass(frozen=True)
class Report:
    """What the play saw on each server, the first one being the reference."""

    seen: tuple[Seen, ...]

    @property
    def same(self) -> bool:
        """Whether every server showed what the first one did."""
        return all(s.same_as(self.seen[0]) for s in self.seen[1:])

    @property
    def differing(self) -> list[str]:
        """The servers that showed something else than the first one."""
        return [s.server for s in self.seen[1:] if not s.same_as(self.seen[0])]

    def __str__(self) -> str:
        first = self.seen[0]
        lines = []
        for seen in self.seen:
            mark = (
                "" if seen is first or seen.same_as(first) else f"   <- differs from {first.server}"
            )
            lines.append(f"{seen.server}: {seen.shown()}{mark}")
        return "\n".join(lines)


async def compare(
    app: ASGIApp,
    play: Play,
    servers: Sequence[str] = tuple(PROFILES),
    *,
    live: bool = False,
    **client_options: Any,
) -> Report:
    """Run *play* against *app* on each of *servers*, and report what each showed.

    ``client_options`` go to every ``TestClient`` (``strict``, ``timeout``, ...);
    ``raise_app_exceptions`` is ``False`` unless given, so that what a client sees is
    compared, not the app's own exceptions.
    """
    unknown = sorted(set(servers) - set(PROFILES))
    if unknown or not servers:
        raise ValueError(
            f"compare(servers=...): unknown {unknown or list(servers)}; the servers are: "
            f"{', '.join(sorted(PROFILES))}"
        )
    client_options.setdefault("raise_app_exceptions", False)
    seen = []
    for server in servers:
        try:
            async with TestClient(app, live=live, server=server, **client_options) as client:
                result = await play(client)
        except Exception as error:  # what this server showed
            seen.append(Seen(server, error=error))
        else:
            seen.append(Seen(server, result=result))
    return Report(tuple(seen))
