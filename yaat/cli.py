"""The ``yaat`` command: ``yaat run module:app [--host HOST] [--port PORT] [--reload]``."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, exposed for ``--help`` tests and shell completion."""
    parser = argparse.ArgumentParser(prog="yaat", description="Serve a yaat app.")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="serve an ASGI app with uvicorn")
    run.add_argument("app", help="the app to serve, as 'module:attribute', e.g. examples.chat:app")
    run.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="port to bind (default 8000)")
    run.add_argument("--reload", action="store_true", help="restart when the code changes")
    run.add_argument(
        "--app-dir", default=".", help="directory to import the app from (default: the current one)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``yaat`` console script."""
    args = build_parser().parse_args(argv)
    if ":" not in args.app:
        print(f"yaat run: expected 'module:attribute', got {args.app!r}", file=sys.stderr)
        return 2
    try:
        import uvicorn
    except ImportError:
        print("yaat run needs uvicorn: pip install 'yaat[server]'", file=sys.stderr)
        return 2
    # A console script does not put the current directory on sys.path; uvicorn's own
    # CLI adds it the same way.  uvicorn imports the app itself, so --reload works.
    sys.path.insert(0, os.path.abspath(args.app_dir))
    uvicorn.run(args.app, host=args.host, port=args.port, reload=args.reload, app_dir=args.app_dir)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
