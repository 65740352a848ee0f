"""MkDocs hooks: docstrings name objects with Sphinx roles (``:class:`Rooms```); the
rendered page shows the name as code."""

from __future__ import annotations

import re
from typing import Any

_ROLE = re.compile(r":(?:class|func|meth|data|mod|attr|exc|obj):<code>~?([^<]*)</code>")


def on_page_content(html: str, **_: Any) -> str:
    """``:class:`~yaat.rooms.Rooms``` becomes ``Rooms`` in code; without ``~``, in full."""
    return _ROLE.sub(lambda match: f"<code>{_shown(match.group(0), match.group(1))}</code>", html)


def _shown(role: str, target: str) -> str:
    return target.rsplit(".", 1)[-1] if "<code>~" in role else target
