"""Daphne, on a Twisted reactor that runs in a thread of its own.

>>> DaphneServer.name
'daphne'

Daphne installs Twisted's asyncio reactor on a loop of its own when imported, and a
reactor runs once per process: it cannot stop and start again.  So the reactor runs in
one daemon thread for the whole process, started the first time daphne is asked for,
and each :class:`DaphneServer` listens on a port of its own there and stops listening
when it stops.  The app runs in the reactor's loop and thread, as on a real daphne;
live mode's wrapper reports to the test's loop across threads.  Daphne runs no lifespan.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from typing import Any

from yaat_testing.servers.base import LiveServer

_start_lock = threading.Lock()
_reactor: Any = None


def running_reactor() -> Any:
    """Twisted's reactor, running in its daemon thread (started here on first use)."""
    global _reactor
    with _start_lock:
        if _reactor is not None:
            return _reactor
        import daphne.server  # installs the asyncio reactor on daphne's own loop
        from twisted.internet import reactor as twisted_reactor

        reactor: Any = twisted_reactor

        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(daphne.server.twisted_loop)
            reactor.callWhenRunning(started.set)
            reactor.run(installSignalHandlers=False)

        threading.Thread(target=run, name="yaat_testing daphne reactor", daemon=True).start()
        if not started.wait(10):
            raise RuntimeError("Twisted's reactor did not start within 10s")
        _reactor = reactor
        return reactor


def in_reactor(function: Any, *args: Any) -> concurrent.futures.Future[Any]:
    """Run ``function(*args)`` in the reactor's thread; its result in a future."""
    reactor = running_reactor()
    future: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def call() -> None:
        try:
            future.set_result(function(*args))
        except BaseException as error:
            future.set_exception(error)

    reactor.callFromThread(call)
    return future


class DaphneServer(LiveServer):
    """Daphne with its defaults (1 MiB messages, 10 s to close an app), on the reactor."""

    name = "daphne"

    _server: Any = None
    _port: Any = None

    async def start(self) -> None:
        future = in_reactor(self._listen)
        self._server, self._port = await asyncio.wrap_future(future)
        self.port = self._port.getHost().port

    def _listen(self) -> tuple[Any, Any]:
        """In the reactor's thread: what daphne's ``Server.run()`` sets up, but listen."""
        from daphne.http_protocol import HTTPFactory
        from daphne.server import Server
        from daphne.ws_protocol import WebSocketFactory
        from twisted.internet import endpoints

        reactor: Any = running_reactor()
        tcp_endpoint: Any = endpoints.TCP4ServerEndpoint

        server = Server(
            self.app,
            endpoints=["tcp:port=0:interface=127.0.0.1"],
            signal_handlers=False,
            root_path=self.root_path,
            verbosity=0,
        )
        server.connections = {}
        server.http_factory = HTTPFactory(server)
        server.ws_factory = WebSocketFactory(server, server=server.server_name)
        server.ws_factory.setProtocolOptions(
            autoPingTimeout=server.ping_timeout,
            allowNullOrigin=True,
            openHandshakeTimeout=server.websocket_handshake_timeout,
            maxMessagePayloadSize=server.websocket_max_message_size,
            maxFramePayloadSize=server.websocket_max_frame_size,
        )
        reactor.callLater(1, server.application_checker)
        reactor.callLater(2, server.timeout_checker)
        listening = tcp_endpoint(reactor, 0, interface="127.0.0.1").listen(server.http_factory)
        port = listening.result  # a TCP listen completes at once
        return server, port

    async def stop(self) -> None:
        server, port = self._server, self._port
        self._server = self._port = None
        if server is None:
            return
        done = await asyncio.wrap_future(in_reactor(self._stop_in_reactor, server, port))
        # The applications are cancelled in the reactor's loop; give them the timeout.
        await asyncio.wait_for(asyncio.wrap_future(done), timeout=self.timeout)

    @staticmethod
    def _stop_in_reactor(server: Any, port: Any) -> concurrent.futures.Future[None]:
        """In the reactor's thread: stop listening, drop connections, cancel the apps.

        The future is done once the listening socket is closed as well: Twisted closes
        it on the reactor's next turn (``stopListening`` returns a Deferred), and a
        connection made before that turn would still be accepted.
        """
        from twisted.internet.defer import DeferredList, succeed

        closed = port.stopListening() or succeed(None)
        # Daphne's periodic checkers reschedule themselves: make their next call the last.
        server.application_checker = server.timeout_checker = lambda: None
        for protocol in list(server.connections):
            transport = getattr(protocol, "transport", None)
            if transport is not None:
                transport.abortConnection()
        finished: concurrent.futures.Future[None] = concurrent.futures.Future()
        for details in server.connections.values():
            details.setdefault("application_instance", None)
        server.connections = {
            protocol: details
            for protocol, details in server.connections.items()
            if details["application_instance"] is not None
        }
        cancelled = server.kill_all_applications()
        both = DeferredList([closed, cancelled], consumeErrors=True)
        both.addBoth(lambda _: finished.set_result(None))
        return finished
