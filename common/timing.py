"""The one stage timer: wall seconds per named stage of a run (the ledger records them, the jobs'
summaries and benchmarks read them)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Stages:
    """Wall seconds per stage; a stage entered twice adds up, and a failing one still counts.

    Thread-safe: stages run side by side in threads, so they may add up to more than the run.
    """

    def __init__(self) -> None:
        self._seconds: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.add(name, time.monotonic() - started)

    def add(self, name: str, seconds: float) -> None:
        with self._lock:
            self._seconds[name] = self._seconds.get(name, 0.0) + seconds

    def as_dict(self) -> dict[str, float]:
        """The stages in the order first entered, rounded to milliseconds."""
        with self._lock:
            return {name: round(seconds, 3) for name, seconds in self._seconds.items()}

    def line(self) -> str:
        """`name 1.23s, ...` for a run's summary log line."""
        return ", ".join(f"{name} {seconds:.2f}s" for name, seconds in self.as_dict().items())
