"""The ``yaat`` command: ``yaat run module:app [uvicorn options]``.

``yaat run`` is uvicorn's own command line (every option: ``yaat run --help``), with
defaults that are safer for WebSockets where uvicorn's are not:

- ``--ws-max-size``: the app's largest ``max_message_size`` (1 MiB unless the app or a
  route says otherwise) instead of 16 MiB, so that a larger message, compressed or not,
  is refused by the server before it is inflated and buffered;
- ``--timeout-graceful-shutdown``: 10 seconds instead of waiting for ever, so that on
  SIGTERM a client that never reads cannot keep the process (and ``on_shutdown``)
  waiting;
- ``--ws auto``: ``yaat.uvicorn_protocol.BoundedWebSocketsProtocol``, uvicorn's own
  websockets-sansio protocol with every close bounded in time, so that a client that
  never reads is dropped and its handler told (naming an implementation, such as
  ``--ws websockets-sansio``, gives uvicorn's own).

An option given on the command line always wins.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
from collections.abc import Sequence
from typing import Any

from yaat.constants import DEFAULT_MAX_MESSAGE_SIZE

#: Seconds the server gives connections to close at SIGTERM before it cancels them.
GRACEFUL_SHUTDOWN_TIMEOUT = 10

#: What ``--ws auto`` (the default) serves WebSockets with: uvicorn's websockets-sansio
#: protocol with every close bounded in time (``yaat.uvicorn_protocol``).
BOUNDED_PROTOCOL = "yaat.uvicorn_protocol:BoundedWebSocketsProtocol"

EPILOG = f"""yaat's defaults, where uvicorn's differ: --ws-max-size is the app's largest
max_message_size ({DEFAULT_MAX_MESSAGE_SIZE} bytes unless the app says otherwise);
--timeout-graceful-shutdown is {GRACEFUL_SHUTDOWN_TIMEOUT} seconds; --ws auto is
{BOUNDED_PROTOCOL}, uvicorn's websockets-sansio with every close bounded in time."""


def build_parser() -> argparse.ArgumentParser:
    """The ``yaat`` parser, for ``yaat --help``; ``yaat run`` is uvicorn's command line."""
    parser = argparse.ArgumentParser(prog="yaat", description="Serve a yaat app.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run",
        help="serve an ASGI app with uvicorn: every uvicorn option, with safer "
        "WebSocket defaults (yaat run --help lists them)",
        add_help=False,
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``yaat`` console script."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["run"]:
        return run(arguments[1:])
    build_parser().parse_args(arguments)  # --help, or an error that names the commands
    return 2


def run(arguments: Sequence[str]) -> int:
    """``yaat run``: uvicorn's command, with yaat's defaults where none was given."""
    try:
        import click
        from click.core import ParameterSource
        from uvicorn.main import main as uvicorn_command
    except ImportError:
        print("yaat run needs uvicorn: pip install 'yaat[server]'", file=sys.stderr)
        return 2
    shown = {
        "ws_max_size": f"the app's largest max_message_size, {DEFAULT_MAX_MESSAGE_SIZE} "
        "unless it says otherwise",
        "timeout_graceful_shutdown": str(GRACEFUL_SHUTDOWN_TIMEOUT),
    }
    params = []
    for param in uvicorn_command.params:
        if param.name in shown:  # a copy: uvicorn's own command stays as it is
            param = copy.copy(param)
            param.show_default = shown[param.name]  # type: ignore[attr-defined]
        params.append(param)
    command = click.Command(
        name="yaat run",
        callback=uvicorn_command.callback,
        params=params,
        help=uvicorn_command.help,
        epilog=EPILOG,
    )
    try:
        context = command.make_context("yaat run", list(arguments))
    except click.exceptions.Exit as done:  # --help, --version
        return done.exit_code
    except click.ClickException as error:
        error.show()
        return error.exit_code
    with context:
        app, app_dir = context.params["app"], context.params["app_dir"]
        if ":" not in app:
            print(f"yaat run: expected 'module:attribute', got {app!r}", file=sys.stderr)
            return 2
        defaults = {
            "ws_max_size": _largest_message_size(app, app_dir),
            "timeout_graceful_shutdown": GRACEFUL_SHUTDOWN_TIMEOUT,
        }
        for name, value in defaults.items():
            if context.get_parameter_source(name) is ParameterSource.DEFAULT:
                context.params[name] = value
        if context.params["ws"] == "auto":
            context.params["ws"] = BOUNDED_PROTOCOL
        command.invoke(context)
    return 0


def _largest_message_size(app: str, app_dir: str) -> int:
    """The app's largest ``max_message_size``: the limit the server should apply too."""
    from uvicorn.importer import ImportFromStringError, import_from_string

    sys.path.insert(0, os.path.abspath(app_dir))  # as uvicorn does, before it imports
    try:
        loaded: Any = import_from_string(app)
    except ImportFromStringError:
        return DEFAULT_MAX_MESSAGE_SIZE  # uvicorn reports it, with its own message
    largest = getattr(loaded, "largest_message_size", None)
    return int(largest()) if callable(largest) else DEFAULT_MAX_MESSAGE_SIZE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
