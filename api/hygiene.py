"""HTTP hygiene of every answer: HEAD wherever GET answers, and `X-Content-Type-Options: nosniff`.

One pure ASGI middleware, outermost, so the fast path, the routes, the static files, CORS
preflights and every error get the same treatment without a HEAD route each: a HEAD request is
answered as the GET it mirrors with the body left out (status and headers, Content-Length
included, are the GET's). Validation errors quote a long input only shortened (`clipped_errors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.routes.common import shown

# Browsers must not guess another type than the one an answer declares (JSON, never script or HTML).
NOSNIFF_HEADERS = {"x-content-type-options": "nosniff"}
NOSNIFF = (b"x-content-type-options", b"nosniff")
# The scope key telling the inner middlewares (metrics) that the client sent HEAD.
HEAD_KEY = "dataplatform.head"


class Hygiene:
    """Pure ASGI middleware wrapping the whole app (only Starlette's own 500 handler is outside)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        head = scope["method"] == "HEAD"
        if head:
            scope = {**scope, "method": "GET", HEAD_KEY: True}

        async def send_hygienic(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _with_hygiene(message.get("headers", ()), message["status"])
            elif head and message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app(scope, receive, send_hygienic)


def _with_hygiene(headers: Sequence[tuple[bytes, bytes]], status: int) -> list[tuple[bytes, bytes]]:
    """The answer's headers plus nosniff; a 405's `Allow` names HEAD beside GET, as it is served."""
    out = [*headers, NOSNIFF]
    if status == 405:
        out = [(k, b"GET, HEAD") if k.lower() == b"allow" and v == b"GET" else (k, v) for k, v in out]
    return out


def clipped_errors(errors: Sequence[Any]) -> list[Any]:
    """Validation errors as FastAPI reports them, each `input` text shortened to what `shown` keeps."""
    return [
        {**error, "input": shown(error["input"])}
        if isinstance(error, dict) and isinstance(error.get("input"), str)
        else error
        for error in errors
    ]
