"""What every source emulator shares: a threaded HTTP server on loopback, started in a daemon
thread, with a handler that logs at debug level only."""

from __future__ import annotations

import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive (as the real services), access lines at debug level."""

    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)


class BackgroundServer:
    """A `ThreadingHTTPServer` whose handler class sees this object as `emulator`.

    Subclasses set up their state, then call `serve(handler, host, port, name)`; `.url` is the
    base URL and `.stop()` shuts the server down.
    """

    httpd: ThreadingHTTPServer
    thread: threading.Thread
    url: str

    def serve(
        self, handler: type[BaseHTTPRequestHandler], host: str, port: int, name: str, *, start: bool = True
    ) -> None:
        bound = type("Handler", (handler,), {"emulator": self})
        self.httpd = ThreadingHTTPServer((host, port), bound)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 256
        self.url = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, name=name, daemon=True)
        if start:
            self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def run_until_interrupted(self) -> None:
        """Block the command-line entry point until Ctrl-C, then shut down."""
        try:
            self.thread.join()
        except KeyboardInterrupt:
            self.stop()
