"""The README's first command, checked from a venv that has only what it installs.

    python scripts/serve_smoke.py              # after: pip install '.[server]'
    python scripts/serve_smoke.py --redis URL  # after: pip install '.[server,redis]'

Runs ``yaat run examples.chat:app`` as the README says (two processes sharing a room
through Redis with ``--redis``), opens the chat's WebSocket with the ``websockets``
client the extra installed, sends a message and checks that it comes back.  It imports
nothing from the tests, and stops the servers it started.  Exit status 0 on success.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def serve(port: int, redis_url: str | None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if redis_url:
        env["YAAT_REDIS_URL"] = redis_url
    yaat = Path(sys.executable).with_name("yaat")  # the console script the extra installed
    process = subprocess.Popen(
        [str(yaat), "run", "examples.chat:app", "--port", str(port)], cwd=ROOT, env=env
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"yaat run exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return process
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("yaat run did not listen within 20 s")


def next_of(ws: object, kind: str) -> dict[str, object]:
    while True:
        message: dict[str, object] = json.loads(ws.recv(timeout=10))  # type: ignore[attr-defined]
        if message["type"] == kind:
            return message


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", help="a Redis URL: two processes share the room through it")
    args = parser.parse_args()
    ports = [free_port()] + ([free_port()] if args.redis else [])
    servers = [serve(port, args.redis) for port in ports]
    try:
        with connect(f"ws://127.0.0.1:{ports[0]}/ws/smoke?name=ada") as ada:
            next_of(ada, "join")
            with connect(f"ws://127.0.0.1:{ports[-1]}/ws/smoke?name=bob") as bob:
                next_of(bob, "join")
                bob.send(json.dumps({"text": "hello from bob"}))
                received = next_of(ada, "message")
        # Each member carries an id the server picks; the rest is fixed.
        assert isinstance(received.pop("id", None), str), received
        assert received == {"type": "message", "name": "bob", "text": "hello from bob"}, received
        where = "two processes sharing a room through Redis" if args.redis else "one process"
        print(f"serve_smoke: a WebSocket message went through yaat run ({where})")
        return 0
    finally:
        for server in servers:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
