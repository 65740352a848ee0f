"""Transports: where a ``TestClient``'s connections go.

>>> from yaat_testing.transports import MemoryTransport
>>> async with TestClient(transport=MemoryTransport(app)) as client:  # doctest: +SKIP
...     ...

- :class:`MemoryTransport` runs the app in the test's own event loop and plays the
  server, as a server profile says.
- :class:`LiveTransport` serves the app with a real server on loopback and connects a
  real ``websockets`` client.
- :class:`Transport` and :class:`Connection` are the base classes of your own.
"""

from yaat_testing.transports.base import Connection, Failures, Transport
from yaat_testing.transports.live import LiveConnection, LiveTransport
from yaat_testing.transports.memory import MemoryConnection, MemoryTransport

__all__ = [
    "Connection",
    "Failures",
    "LiveConnection",
    "LiveTransport",
    "MemoryConnection",
    "MemoryTransport",
    "Transport",
]
