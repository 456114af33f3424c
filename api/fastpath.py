"""ASGI fast path for the hottest answers: a dict lookup and one `send`, no routing or validation.

Only requests whose answer is already encoded are taken (GET of a known repository's whole series,
no query string, and /health); everything else, errors included, goes to the FastAPI routes, which
answer the same bytes and remain what /openapi.json documents. Measured in bench/api_wrk.py.
"""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from api.tables import DataUnavailableError, TableCache
from api.views.github import GithubView

PREFIX = "/github/repos/"
SUFFIX = "/new-contributors"
HEALTH = b'{"status":"ok"}'


class FastPath:
    """Pure ASGI middleware in front of the routes (inside the error middleware and CORS)."""

    def __init__(self, app: ASGIApp, cache: TableCache) -> None:
        self.app = app
        self.cache = cache

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            body = self._answer(scope["path"])
            if body is not None:
                await send(
                    {
                        "type": "http.response.start",
                        "status": 200,
                        "headers": [
                            (b"content-length", str(len(body)).encode()),
                            (b"content-type", b"application/json"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    def _answer(self, path: str) -> bytes | None:
        if path == "/health":
            return HEALTH
        if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
            return None
        repo = path[len(PREFIX) : -len(SUFFIX)]
        if not repo or "/" in repo:
            return None
        try:
            view: Any = self.cache.get("github")
        except DataUnavailableError:
            return None  # the route answers the 503
        series = view.series.get(repo) if isinstance(view, GithubView) else None
        return None if series is None else series.body
