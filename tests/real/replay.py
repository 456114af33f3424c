"""An HTTP server that answers with recorded GitHub exchanges (status, headers and body as recorded).

The client under test talks to it over real HTTP, as it talks to GitHub. Only two things differ
from the recording, both as a GitHub Enterprise host would differ: the host `https://api.github.com`
in header values (the `Link` cursors) becomes this server's address, and the recorded
`Content-Encoding`/`Transfer-Encoding`/`Content-Length` are dropped because the bodies are stored
decoded. Answers are looked up by path and query; `per_page` is left out of the key because the
recordings were made with other page sizes and a cursor's meaning does not depend on it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

GITHUB = "https://api.github.com"
DROPPED = {"content-encoding", "transfer-encoding", "content-length", "connection"}


def load_exchanges(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def key_of(target: str) -> tuple[str, frozenset[tuple[str, str]]]:
    parts = urlsplit(target)
    query = frozenset((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "per_page")
    return parts.path, query


def header(exchange: dict[str, Any], name: str) -> str | None:
    """A recorded header's value, whatever the case the recorder kept."""
    for key, value in exchange["headers"]:
        if key.lower() == name.lower():
            return str(value)
    return None


class ReplayServer:
    """Per key, a queue of exchanges answered in turn (the last one repeats)."""

    def __init__(self) -> None:
        self.queues: dict[tuple[str, frozenset[tuple[str, str]]], list[dict[str, Any]]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_GET(self) -> None:
                server.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def queue(self, url: str, *exchanges: dict[str, Any]) -> None:
        """Answer requests for `url` (a recorded GitHub URL) with `exchanges`, in order."""
        with self.lock:
            self.queues[key_of(url.removeprefix(GITHUB))] = list(exchanges)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.requests.append((handler.path, dict(handler.headers.items())))
            queue = self.queues.get(key_of(handler.path))
            exchange = None
            if queue:
                exchange = queue.pop(0) if len(queue) > 1 else queue[0]
        if exchange is None:
            self._send(handler, 404, [], json.dumps({"message": "Not Found (not recorded)"}).encode())
            return
        if exchange["status"] == 304 and handler.headers.get("If-None-Match") != header(exchange, "etag"):
            # The recording's 304 answered a conditional request; anything else is a client bug.
            self._send(handler, 400, [], b'{"message": "expected If-None-Match with the recorded ETag"}')
            return
        headers = [
            (name, str(value).replace(GITHUB, self.url))
            for name, value in exchange["headers"]
            if name.lower() not in DROPPED
        ]
        self._send(handler, exchange["status"], headers, exchange["body"].encode("utf-8"))

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, headers: list[tuple[str, str]], body: bytes
    ) -> None:
        handler.send_response_only(status)
        for name, value in headers:
            handler.send_header(name, value)
        if status != 304:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        if status != 304 and body:
            handler.wfile.write(body)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve() -> Iterator[ReplayServer]:
    server = ReplayServer()
    try:
        yield server
    finally:
        server.stop()
