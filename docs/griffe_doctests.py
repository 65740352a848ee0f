"""A griffe extension for the API reference: doctest examples become code blocks.

Docstrings here open with ``>>>`` examples, as the standard library's do; Markdown
would otherwise read their output (``['send-before-accept']``) as text and links.
"""

from __future__ import annotations

from typing import Any

import griffe


class DoctestFences(griffe.Extension):
    """Wrap each run of ``>>>`` lines and their output in a ``pycon`` fence."""

    def on_instance(self, *, obj: griffe.Object, **_: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = fence_doctests(obj.docstring.value)


def fence_doctests(text: str) -> str:
    lines, fenced, inside = text.splitlines(), [], False
    for line in lines:
        if not inside and line.lstrip().startswith(">>>"):
            fenced.append("```pycon")
            inside = True
        elif inside and not line.strip():
            fenced.append("```")
            inside = False
        fenced.append(line)
    if inside:
        fenced.append("```")
    return "\n".join(fenced)
