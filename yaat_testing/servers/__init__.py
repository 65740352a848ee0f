"""Real ASGI servers for live mode, each serving one app on 127.0.0.1 and a free port.

>>> sorted(SERVERS)
['daphne', 'granian', 'hypercorn', 'uvicorn', 'uvicorn-wsproto']
"""

from __future__ import annotations

from yaat_testing.servers.base import LiveServer, ServerFactory
from yaat_testing.servers.daphne import DaphneServer
from yaat_testing.servers.granian import GranianServer
from yaat_testing.servers.hypercorn import HypercornServer
from yaat_testing.servers.uvicorn import UvicornServer, UvicornWsprotoServer

#: Every server live mode can run, by the name ``TestClient(server=...)`` takes.
SERVERS: dict[str, ServerFactory] = {
    server.name: server
    for server in (
        UvicornServer,
        UvicornWsprotoServer,
        HypercornServer,
        DaphneServer,
        GranianServer,
    )
}

__all__ = [
    "SERVERS",
    "DaphneServer",
    "GranianServer",
    "HypercornServer",
    "LiveServer",
    "ServerFactory",
    "UvicornServer",
    "UvicornWsprotoServer",
]
