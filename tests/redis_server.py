"""A private ``redis-server`` on loopback, for the tests and the benchmarks.

>>> server = RedisServer("/usr/bin/redis-server")  # doctest: +SKIP
>>> server.start()  # doctest: +SKIP
>>> server.url  # doctest: +SKIP
'redis://127.0.0.1:40123/0'
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator

#: What to do when the binary is missing.
INSTALL_HINT = (
    "redis-server is not installed: apt-get install redis-server "
    "(bash .ci/run installs it when it is missing)"
)


class RedisServer:
    """A private ``redis-server`` on 127.0.0.1 and a free port: nothing saved, nothing shared.

    ``stop()`` kills it as an outage would; ``start()`` brings it back on the same port.
    """

    def __init__(self, binary: str) -> None:
        self.binary = binary
        with contextlib.closing(socket.socket()) as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 10.0) -> None:
        command = [self.binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock,
            ):
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server did not answer on port {self.port} within {timeout:g}s")

    def pause(self) -> None:
        """SIGSTOP: a Redis that still holds its connections and answers nothing, as in
        a network partition; ``resume()`` (SIGCONT) lets it go on with what it buffered."""
        assert self.process is not None, "start() it first"
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None, "start() it first"
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a paused one too
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A private redis-server for the block; ``FileNotFoundError`` if none is installed."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError(INSTALL_HINT)
    server = RedisServer(binary)
    server.start()
    try:
        yield server
    finally:
        server.stop()
