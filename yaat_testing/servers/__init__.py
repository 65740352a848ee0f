"""Real ASGI servers for live mode, each serving one app on 127.0.0.1 and a free port.

>>> sorted(SERVERS)
['uvicorn', 'uvicorn-wsproto']
"""

from __future__ import annotations

from yaat_testing.servers.base import LiveServer, ServerFactory
from yaat_testing.servers.uvicorn import UvicornServer, UvicornWsprotoServer

#: Every server live mode can run, by the name ``TestClient(server=...)`` takes.
SERVERS: dict[str, ServerFactory] = {
    "uvicorn": UvicornServer,
    "uvicorn-wsproto": UvicornWsprotoServer,
}

__all__ = ["SERVERS", "LiveServer", "ServerFactory", "UvicornServer", "UvicornWsprotoServer"]
