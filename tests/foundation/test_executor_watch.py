"""common.spark.ExecutorWatch: a standalone application left without executors stops, once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

from common.spark import ExecutorWatch


def _counts(values: list[int]) -> Iterator[int]:
    yield from values
    while True:
        yield values[-1]


def _watch(values: list[int], timeout: float) -> tuple[ExecutorWatch, threading.Event, list[int]]:
    stopped = threading.Event()
    seen: list[int] = []
    counts = _counts(values)

    def count() -> int:
        seen.append(next(counts))
        return seen[-1]

    watch = ExecutorWatch(count, stopped.set, timeout=timeout, interval=0.01)
    return watch.start(), stopped, seen


def test_stops_the_session_after_the_timeout_without_executors() -> None:
    watch, stopped, seen = _watch([2, 2, 0], timeout=0.2)
    began = time.monotonic()
    assert stopped.wait(5), "the watch never stopped a session without executors"
    assert time.monotonic() - began >= 0.2
    time.sleep(0.05)
    assert not watch.alive  # it stopped once and ended
    assert seen[:3] == [2, 2, 0]


def test_executors_that_come_back_in_time_keep_the_session() -> None:
    # No executor for ~0.1 s at a time (a worker restarted), never for the 0.5 s timeout.
    watch, stopped, _ = _watch(([0] * 10 + [1]) * 5 + [1], timeout=0.5)
    try:
        assert not stopped.wait(1.0)
    finally:
        watch.close()


def test_a_session_its_job_stopped_ends_the_watch() -> None:
    def gone() -> int:
        raise AttributeError("'NoneType' object has no attribute 'sc'")

    stopped = threading.Event()
    watch = ExecutorWatch(gone, stopped.set, timeout=0.01, interval=0.01).start()
    time.sleep(0.1)
    assert not watch.alive and not stopped.is_set()


def test_a_failed_count_is_asked_again_and_the_loss_still_stops_the_session() -> None:
    answers: list[int | Exception] = [1, RuntimeError("gateway busy"), RuntimeError("gateway busy"), 0]

    def count() -> int:
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    stopped = threading.Event()
    watch = ExecutorWatch(count, stopped.set, timeout=0.05, interval=0.01).start()
    assert stopped.wait(5), "a failed count ended the watch: a lost cluster would hang the run"
    time.sleep(0.05)
    assert not watch.alive
