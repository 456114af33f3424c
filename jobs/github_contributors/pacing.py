"""Pacing: each token kept within GitHub's secondary limits before a request is sent.

GitHub's documented secondary limits per token (REST): at most 100 concurrent requests, 900
points per minute (a GET is one point) and 90 seconds of response time per 60 seconds of real
time. A `Pacer` holds one token's budget, or a share of it, for every thread of one process:
- a semaphore for the concurrent requests, held to what the points rate keeps busy (`_slots`);
- a sliding-window limiter for the points: a request is sent only when the points sent in the
  last window, plus its own, stay within the budget;
- a sliding-window accountant for the response time: a request is sent only when the answers'
  seconds ended in the last window, plus the in-flight requests' expected seconds, plus its own
  expected seconds (the slowest recent answer), stay within the budget.
The window is a little longer than GitHub's (`MARGIN`), for the time a request takes to arrive.

Across a Spark run, the driver's pacers use each token's whole budget (its requests finish before
the executors' start); each of the P partitions then gets a fixed 1/P share of every token
(`shares`), starting from its share of what the driver sent in the last window (`history`). A
token's shares add up to its budget, so no partition can spend another's.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

# GitHub's documented secondary limits for the REST API, per token.
MAX_CONCURRENT = 100
POINTS_PER_MINUTE = 900.0
RESPONSE_SECONDS_PER_MINUTE = 90.0
MINUTE = 60.0
# Expected seconds of an answer before any was seen (then: the slowest of the recent ones).
FIRST_ANSWER_SECONDS = 1.0
RECENT_ANSWERS = 50
# In flight at most this many times what the points rate needs at the recent answers' pace.
BUSY_FACTOR = 2.0
EPSILON = 1e-9


@dataclass(frozen=True)
class Budget:
    """What one token (or one share of it) may spend: per `window` seconds, `points` and
    `seconds` of response time, and `concurrent` requests at once."""

    concurrent: int = MAX_CONCURRENT
    points: float = POINTS_PER_MINUTE
    seconds: float = RESPONSE_SECONDS_PER_MINUTE
    window: float = MINUTE
    fraction: float = 1.0  # of the token's budget (what a share scales the driver's history by)

    @classmethod
    def per_minute(
        cls, concurrent: int, points_per_minute: float, seconds_per_minute: float, window: float = MINUTE
    ) -> Budget:
        """A budget stated per minute, enforced over `window` seconds: a shorter window gets a
        1/ceil(60/window) part of it, so any 60 s (covered by ceil(60/window) windows) stays within."""
        parts = max(1, math.ceil(MINUTE / window - EPSILON))
        return cls(concurrent, points_per_minute / parts, seconds_per_minute / parts, window)

    def share(self, index: int, of: int) -> Budget:
        """Share `index` (0-based) of `of` equal shares (the concurrency split as evenly as it goes)."""
        concurrent = self.concurrent // of + (1 if index < self.concurrent % of else 0)
        return replace(
            self,
            concurrent=max(1, concurrent),
            points=self.points / of,
            seconds=self.seconds / of,
            fraction=self.fraction / of,
        )


def shares(tokens: int, partitions: int, budget: Budget) -> list[list[tuple[int, Budget]]]:
    """Each partition's (token position, budget share) list: every token, a 1/P share of each.

    Every partition may then use every token (a token dry of its primary budget is skipped by all
    of them, the others' shares go on), and a token's P shares add up to its budget.
    """
    return [
        [(token, budget.share(index, partitions)) for token in range(max(1, tokens))]
        for index in range(partitions)
    ]


def most_partitions(budget: Budget) -> int:
    """The most partitions a token's budget can be shared by (each share one request and one point)."""
    return max(1, min(budget.concurrent, int(budget.points)))


class Pacer:
    """One token's budget (or share) in this process, for all its threads: `acquire` before a
    request, `release` after its answer."""

    def __init__(self, budget: Budget, *, clock: Callable[[], float] = time.time) -> None:
        self.budget = budget
        self.clock = clock
        self.window = budget.window + min(1.0, 0.05 * budget.window)
        self._cond = threading.Condition()
        self._busy = 0
        self._points: deque[tuple[float, float]] = deque()  # (sent, points)
        self._points_sum = 0.0
        self._answers: deque[tuple[float, float]] = deque()  # (ended, seconds)
        self._answers_sum = 0.0
        self._reserved = 0.0
        self._recent: deque[float] = deque(maxlen=RECENT_ANSWERS)
        self.requests = 0
        self.waits = 0
        self.wait_seconds = 0.0

    # --- what the window holds ------------------------------------------------------------------
    def _prune(self, now: float) -> None:
        while self._points and self._points[0][0] <= now - self.window:
            self._points_sum -= self._points.popleft()[1]
        while self._answers and self._answers[0][0] <= now - self.window:
            self._answers_sum -= self._answers.popleft()[1]

    def _expected(self) -> float:
        return max(self._recent) if self._recent else FIRST_ANSWER_SECONDS

    def _slots(self) -> int:
        """Requests in flight at once: the budget's concurrency, but no more than its points rate
        keeps busy at the recent answers' pace, twice over. GitHub asks for serial requests, and
        a burst only lengthens every answer, each of which counts against the response time
        (bench/results/github_pacing.json)."""
        pace = sum(self._recent) / len(self._recent) if self._recent else FIRST_ANSWER_SECONDS
        needed = math.ceil(BUSY_FACTOR * pace * self.budget.points / self.budget.window)
        return max(1, min(self.budget.concurrent, needed))

    def _delay(self, now: float, *, slot: bool = True, points_only: bool = False) -> float:
        """Seconds until a request may be sent (0: now); a positive guess when an answer must end."""
        self._prune(now)
        delay = 0.0
        if slot and self._busy >= self._slots():
            delay = 0.05  # a release notifies
        excess = self._points_sum + 1.0 - self.budget.points
        if excess > EPSILON and self._points:
            delay = max(delay, _expiry(self._points, excess, now, self.window))
        if points_only:
            return delay
        spent = self._answers_sum + self._reserved
        excess = spent + self._expected() - self.budget.seconds
        if excess > EPSILON and spent > 0:
            if excess <= self._answers_sum + EPSILON:
                delay = max(delay, _expiry(self._answers, excess, now, self.window))
            else:  # the in-flight requests alone are too much: wait for answers (a release notifies)
                delay = max(delay, 0.05, (self._answers[-1][0] + self.window - now) if self._answers else 0.0)
        return delay

    def ready_in(self) -> float:
        """Seconds until this pacer would send (0: now), without waiting (for choosing a token)."""
        with self._cond:
            return self._delay(self.clock())

    # --- a request ------------------------------------------------------------------------------
    def acquire(self) -> tuple[float, float]:
        """Wait until a request fits the budget, then count it; returns its reservation (for
        `release`) and the seconds waited."""
        started = time.monotonic()
        with self._cond:
            while (delay := self._delay(self.clock())) > 0:
                self._cond.wait(timeout=delay)
            expected = self._expected()
            self._busy += 1
            self._points.append((self.clock(), 1.0))
            self._points_sum += 1.0
            self._reserved += expected
            self.requests += 1
            waited = time.monotonic() - started
            if waited > 0.001:
                self.waits += 1
                self.wait_seconds += waited
        return expected, waited

    def retry(self) -> None:
        """One more point for a retry urllib3 is about to send (inside an acquired request)."""
        with self._cond:
            while (delay := self._delay(self.clock(), slot=False, points_only=True)) > 0:
                self._cond.wait(timeout=delay)
            self._points.append((self.clock(), 1.0))
            self._points_sum += 1.0

    def cancel(self, reserved: float) -> None:
        """An acquired request that is not sent: free its slot and reservation (its point stays)."""
        with self._cond:
            self._busy -= 1
            self._reserved = max(0.0, self._reserved - reserved)
            self._cond.notify_all()

    def release(self, reserved: float, seconds: float) -> None:
        """The request's answer came after `seconds` (or it failed): free its slot and reservation."""
        with self._cond:
            self._busy -= 1
            self._reserved = max(0.0, self._reserved - reserved)
            now = self.clock()
            self._answers.append((now, seconds))
            self._answers_sum += seconds
            self._recent.append(seconds)
            self._cond.notify_all()

    # --- across processes -----------------------------------------------------------------------
    def history(self) -> dict[str, list[tuple[float, float]]]:
        """What the last window holds (epoch seconds), for the executors' shares to start from."""
        with self._cond:
            self._prune(self.clock())
            return {"points": list(self._points), "answers": list(self._answers)}

    def preload(self, history: dict[str, Any], scale: float) -> None:
        """Start from `scale` of another process's `history` of the same token."""
        with self._cond:
            for sent, points in history.get("points", ()):
                self._points.append((float(sent), float(points) * scale))
                self._points_sum += float(points) * scale
            for ended, seconds in history.get("answers", ()):
                self._answers.append((float(ended), float(seconds) * scale))
                self._answers_sum += float(seconds) * scale
                self._recent.append(float(seconds))
            self._prune(self.clock())


def _expiry(events: deque[tuple[float, float]], excess: float, now: float, window: float) -> float:
    """Seconds until the oldest events worth `excess` leave the window."""
    total = 0.0
    for at, amount in events:
        total += amount
        if total >= excess - EPSILON:
            return max(0.001, at + window - now)
    return max(0.001, events[-1][0] + window - now) if events else 0.001
