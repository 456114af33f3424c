"""GitHub REST client: a token pool that reads the rate-limit headers after every answer.

Connection errors and 5xx are retried by the session's urllib3 `Retry` (backoff with jitter,
bounded tries). This layer adds what urllib3 cannot know: which token to use, when every token is
exhausted (sleep until the earliest `x-ratelimit-reset`), secondary limits (403/429 with
`retry-after`), and 401 (fail fast). One client lives in each Spark partition, shared by that
partition's threads; token bookkeeping is per partition (workers are separate processes), so
partitions may each find a token exhausted once before they learn it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import requests

from common.errors import ConfigError, SourceError
from common.http import make_session

log = logging.getLogger(__name__)

TIMEOUT = (5.0, 30.0)
SECONDARY_DEFAULT_WAIT = 60.0
# An exhausted answer without `x-ratelimit-reset` (GitHub sent none before 2013-2014, and a proxy
# may drop it): the window's end is unknown, so wait this long before asking again instead of
# retrying at once, which would spin on 403s.
UNKNOWN_RESET_WAIT = 60.0
SECONDARY_MAX_TRIES = 6
ACCEPT = "application/vnd.github+json"


class AuthError(ConfigError):
    """GitHub rejected a token (401): nothing will work until GITHUB_TOKEN is fixed."""


@dataclass
class TokenState:
    """What the last answer said about one token's primary budget."""

    token: str | None
    remaining: int | None = None  # None: not known yet
    reset: float = 0.0

    def usable(self, now: float) -> bool:
        return self.remaining is None or self.remaining > 0 or now >= self.reset


@dataclass
class Stats:
    """Counters of one client (summed over partitions by the driver)."""

    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    secondary_waits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        with self.lock:
            for key, value in amounts.items():
                setattr(self, key, getattr(self, key) + value)

    def as_dict(self) -> dict[str, float]:
        with self.lock:
            return {
                "requests": self.requests,
                "not_modified": self.not_modified,
                "retries": self.retries,
                "rate_limit_waits": self.rate_limit_waits,
                "rate_limit_wait_seconds": round(self.rate_limit_wait_seconds, 3),
                "secondary_waits": self.secondary_waits,
            }


class GitHubClient:
    """GET with token choice, rate-limit bookkeeping and secondary-limit handling."""

    def __init__(
        self,
        base_url: str,
        tokens: list[str],
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        retries: int = 5,
        backoff: float = 0.3,
        pool_size: int = 32,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = [TokenState(t) for t in tokens] or [TokenState(None)]
        self.session = session or make_session(total_retries=retries, backoff=backoff, pool_size=pool_size)
        self.session.headers["Accept"] = ACCEPT
        self.session.headers["X-GitHub-Api-Version"] = "2022-11-28"
        self.sleep = sleep
        self.clock = clock
        self.stats = Stats()
        self._lock = threading.Lock()
        self._local = threading.local()

    def track(self) -> Stats:
        """Start counting this thread's requests separately (per work item); returns the counter."""
        stats = Stats()
        self._local.stats = stats
        return stats

    def _add(self, **amounts: float) -> None:
        self.stats.add(**amounts)
        local: Stats | None = getattr(self._local, "stats", None)
        if local is not None:
            local.add(**amounts)

    def budgets(self) -> list[tuple[int | None, float]]:
        """What this client knows of each token: (remaining, reset), in pool order."""
        with self._lock:
            return [(t.remaining, t.reset) for t in self.tokens]

    def seed_budgets(self, budgets: list[tuple[int | None, float]]) -> None:
        """Start from budgets learnt elsewhere (the driver), so partitions skip exhausted tokens."""
        with self._lock:
            for state, (remaining, reset) in zip(self.tokens, budgets, strict=False):
                state.remaining, state.reset = remaining, reset

    def probe_budgets(self) -> None:
        """Ask `GET /rate_limit` (free) with every token; a 401 fails fast like any other request."""
        for state in self.tokens:
            headers = {"Authorization": f"Bearer {state.token}"} if state.token else {}
            try:
                resp = self.session.get(self.url("rate_limit"), headers=headers, timeout=TIMEOUT)
            except requests.RequestException:
                continue  # the budget stays unknown; the crawl's answers will tell
            self._add(requests=1)
            if resp.status_code == 401:
                index = self.tokens.index(state) + 1
                raise AuthError(
                    "GITHUB_TOKEN",
                    f"GitHub answered 401 Bad credentials for entry {index} of {len(self.tokens)} "
                    "in the pool; fix or remove it",
                )
            if resp.status_code == 200:
                self._note(state, resp)

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def _pick(self) -> TokenState:
        """The usable token with the most budget; sleeps until a reset when every one is exhausted."""
        while True:
            with self._lock:
                now = self.clock()
                usable = [t for t in self.tokens if t.usable(now)]
                if usable:
                    best = max(usable, key=lambda t: float("inf") if t.remaining is None else t.remaining)
                    if best.remaining is not None and now >= best.reset and best.remaining <= 0:
                        best.remaining = None  # the window was reset
                    return best
                wake = min(t.reset for t in self.tokens)
            wait = max(0.0, wake - now) + 1.0
            log.warning(
                "every GitHub token (%d) is exhausted: sleeping %.0fs until the rate-limit reset",
                len(self.tokens),
                wait,
            )
            self._add(rate_limit_waits=1, rate_limit_wait_seconds=wait)
            self.sleep(wait)
            with self._lock:
                # The window has reset (our clock may lag GitHub's): let the next answer tell.
                for token in self.tokens:
                    if token.reset <= wake:
                        token.remaining = None

    def _note(self, state: TokenState, resp: requests.Response) -> None:
        remaining = resp.headers.get("x-ratelimit-remaining")
        reset = resp.headers.get("x-ratelimit-reset")
        if remaining is None:
            return
        with self._lock:
            try:
                state.remaining = int(remaining)
                if reset is not None:
                    state.reset = float(reset)
                elif state.remaining <= 0:
                    state.reset = self.clock() + UNKNOWN_RESET_WAIT
            except ValueError:
                return

    def get(
        self, path: str, *, params: dict[str, Any] | None = None, etag: str | None = None
    ) -> requests.Response:
        """One logical GET; returns the answer for 200/304/404/409 (and other 2xx/4xx), raises otherwise."""
        url = self.url(path)
        secondary_tries = 0
        while True:
            state = self._pick()
            headers = {"If-None-Match": etag} if etag else {}
            if state.token is not None:
                headers["Authorization"] = f"Bearer {state.token}"
            try:
                resp = self.session.get(url, params=params, headers=headers, timeout=TIMEOUT)
            except requests.RequestException as exc:
                self._add(requests=1)
                raise SourceError(f"GET {_short(url)} failed after retries: {type(exc).__name__}") from None
            history = getattr(getattr(resp.raw, "retries", None), "history", ()) or ()
            self._add(requests=1 + len(history), retries=len(history))
            self._note(state, resp)
            status = resp.status_code
            if status == 304:
                self._add(not_modified=1)
                return resp
            if status == 401:
                index = self.tokens.index(state) + 1
                raise AuthError(
                    "GITHUB_TOKEN",
                    f"GitHub answered 401 Bad credentials for entry {index} of {len(self.tokens)} "
                    "in the pool; fix or remove it",
                )
            if status in (403, 429):
                if resp.headers.get("x-ratelimit-remaining") == "0" and "retry-after" not in resp.headers:
                    log.info(
                        "GitHub pool entry %d exhausted until %s",
                        self.tokens.index(state) + 1,
                        time.strftime("%H:%M:%S", time.gmtime(state.reset)),
                    )
                    continue  # primary limit: _pick switches token or sleeps until the reset
                secondary_tries += 1
                if secondary_tries > SECONDARY_MAX_TRIES:
                    raise SourceError(
                        f"GET {_short(url)}: still rate limited (secondary) after {secondary_tries} tries"
                    )
                after = resp.headers.get("retry-after")
                wait = (
                    float(after)
                    if after and after.replace(".", "", 1).isdigit()
                    else SECONDARY_DEFAULT_WAIT * 2 ** (secondary_tries - 1)
                )
                wait *= random.uniform(1.0, 1.2)
                log.info("secondary rate limit on %s: waiting %.1fs", _short(url), wait)
                self._add(secondary_waits=1, retries=1)
                self.sleep(wait)
                continue
            if status >= 500:
                raise SourceError(f"GET {_short(url)} answered {status} after retries")
            return resp

    def paginate(self, path: str, params: dict[str, Any] | None = None) -> Iterator[list[dict[str, Any]]]:
        """Pages of a list endpoint, following `Link: rel="next"` verbatim (cursors are opaque)."""
        resp = self.get(path, params=params)
        while True:
            if resp.status_code != 200:
                raise SourceError(f"GET {_short(resp.url)} answered {resp.status_code}")
            yield resp.json()
            nxt = resp.links.get("next", {}).get("url")
            if not nxt:
                return
            resp = self.get(nxt)


def _short(url: str) -> str:
    """The URL without its query (cursors are long and say nothing to a reader)."""
    return url.split("?", 1)[0]
