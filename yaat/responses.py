"""HTTP responses: just enough for a demo page and health checks.

>>> from yaat.responses import TextResponse
>>> TextResponse("ok").body
b'ok'
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from yaat.constants import http_status_problem
from yaat.datastructures import Headers
from yaat.types import Receive, Scope, Send


class Response:
    """An HTTP response, callable as an ASGI app.

    >>> Response(b"\\x00", media_type="application/octet-stream").status_code
    200
    """

    media_type: str | None = None

    def __init__(
        self,
        content: str | bytes = b"",
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        problem = http_status_problem(status_code)
        if problem is not None:
            error = ValueError if isinstance(status_code, int) else TypeError
            raise error(f"status_code: {problem}")
        self.status_code = status_code
        self.body = self.render(content)
        self.headers = Headers.from_mapping(headers or {})
        media_type = media_type or self.media_type
        if media_type is not None and "content-type" not in self.headers:
            self.headers.raw.append((b"content-type", media_type.encode("latin-1")))
        self.headers.raw.append((b"content-length", str(len(self.body)).encode()))

    def render(self, content: Any) -> bytes:
        """Turn *content* into the body's bytes."""
        if isinstance(content, str):
            return content.encode("utf-8")
        return bytes(content)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.headers.raw}
        )
        await send({"type": "http.response.body", "body": self.body})


class TextResponse(Response):
    """A ``text/plain`` response."""

    media_type = "text/plain; charset=utf-8"


class HTMLResponse(Response):
    """A ``text/html`` response."""

    media_type = "text/html; charset=utf-8"


class JSONResponse(Response):
    """A JSON response: ``JSONResponse({"ok": True})``."""

    media_type = "application/json"

    def __init__(
        self,
        content: Any,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type)

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
