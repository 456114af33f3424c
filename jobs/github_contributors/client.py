"""GitHub REST client: a token pool that reads the rate-limit headers after every answer.

Connection errors and 5xx are retried by the session's urllib3 `Retry` (backoff with jitter,
bounded tries). This layer adds what urllib3 cannot know: which token to use, when every token is
exhausted (sleep until the earliest `x-ratelimit-reset`), secondary limits (403/429 with
`retry-after`), and 401 (fail fast). One client lives in each Spark partition, shared by that
partition's threads; token bookkeeping is per partition (workers are separate processes), so
partitions may each find a token exhausted once before they learn it.

Every request (retries included) first waits for its token's `Pacer` (jobs.github_contributors.
pacing): GitHub's secondary limits are kept before sending. A secondary-limit answer anyway (403 or
429 with `x-ratelimit-remaining` not 0) blocks that token until its `retry-after` (or a minute) has
passed: the other tokens go on, and when every token is blocked the client sleeps until the first
may ask again. A token whose secondary waits in the run pass `secondary_wait_limit` seconds ends
the run (SourceError naming its position in the pool, never its value).
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
from jobs.github_contributors.pacing import Budget, Pacer

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
    position: int = 1  # in the run's pool (1-based): how logs and errors name the token
    blocked_until: float = 0.0  # a secondary-limit answer: nothing is asked before this
    secondary_wait: float = 0.0  # seconds of secondary waits asked of this token in the run

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
    secondary_waits: int = 0  # secondary-limit answers (each one waited for)
    secondary_wait_seconds: float = 0.0
    # Per token, by pool position p: `token{p}_requests`, `token{p}_waits` and
    # `token{p}_wait_seconds` (pacing), `token{p}_secondary` (secondary-limit answers).
    per_token: dict[str, float] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **amounts: float) -> None:
        with self.lock:
            for key, value in amounts.items():
                if key.startswith("token"):
                    self.per_token[key] = self.per_token.get(key, 0) + value
                else:
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
                "secondary_wait_seconds": round(self.secondary_wait_seconds, 3),
                **{key: round(value, 3) for key, value in sorted(self.per_token.items())},
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
        pacers: list[Pacer] | None = None,
        positions: list[int] | None = None,
        pool: int | None = None,
        secondary_wait_limit: float | None = None,
    ) -> None:
        """`pacers`: one per token (default: each its own, at GitHub's documented budget);
        `positions`: the tokens' 1-based positions in the run's pool of `pool` tokens, when this
        client has only some of them (a Spark partition)."""
        self.base_url = base_url.rstrip("/")
        self.tokens = [TokenState(t) for t in tokens] or [TokenState(None)]
        for index, state in enumerate(self.tokens):
            state.position = positions[index] if positions else index + 1
        self.pool = pool or len(self.tokens)
        self.pacers = pacers or [Pacer(Budget()) for _ in self.tokens]
        if len(self.pacers) != len(self.tokens):
            raise ValueError(f"{len(self.pacers)} pacers for {len(self.tokens)} tokens")
        self.secondary_wait_limit = secondary_wait_limit
        # Set when a token passed `secondary_wait_limit`: every thread of this client stops asking.
        self._ended: SourceError | None = None
        self._ending = threading.Event()
        self.session = session or make_session(
            total_retries=retries, backoff=backoff, pool_size=pool_size, on_retry=self._before_retry
        )
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
            try:
                resp = self._send(state, self.url("rate_limit"), None, {})
            except requests.RequestException:
                continue  # the budget stays unknown; the crawl's answers will tell
            if resp is None:
                continue
            if resp.status_code == 401:
                raise self._auth_error(state)
            if resp.status_code == 200:
                self._note(state, resp)

    def url(self, path: str) -> str:
        return path if path.startswith("http") else f"{self.base_url}/{path.lstrip('/')}"

    def _pick(self) -> TokenState:
        """The usable token that may send soonest (then: the most budget); sleeps until a reset, or
        the end of a secondary-limit block, when no token may ask."""
        while True:
            self._check_ended()
            with self._lock:
                now = self.clock()
                usable = [t for t in self.tokens if t.usable(now) and now >= t.blocked_until]
                if usable:
                    best = min(
                        usable,
                        key=lambda t: (
                            self.pacers[self.tokens.index(t)].ready_in() if len(usable) > 1 else 0.0,
                            -(float("inf") if t.remaining is None else t.remaining),
                        ),
                    )
                    if best.remaining is not None and now >= best.reset and best.remaining <= 0:
                        best.remaining = None  # the window was reset
                    return best
                ready = {id(t): max(now if t.usable(now) else t.reset, t.blocked_until) for t in self.tokens}
                first = min(self.tokens, key=lambda t: ready[id(t)])
                wake = ready[id(first)]
                secondary = first.blocked_until >= wake
            if secondary:
                wait = max(0.0, wake - now) + 0.05
                log.info("GitHub pool entry %d refused (secondary rate limit): %.1fs", first.position, wait)
                self._add(secondary_wait_seconds=wait)
            else:
                wait = max(0.0, wake - now) + 1.0
                log.warning(
                    "every GitHub token (%d) is exhausted: sleeping %.0fs until the rate-limit reset",
                    len(self.tokens),
                    wait,
                )
                self._add(rate_limit_waits=1, rate_limit_wait_seconds=wait)
            if self.sleep is time.sleep:
                self._ending.wait(wait)  # a sleep the end of the run interrupts
            else:
                self.sleep(wait)
            self._check_ended()
            with self._lock:
                # The window has reset (our clock may lag GitHub's): let the next answer tell.
                for token in self.tokens:
                    if token.reset <= wake and not secondary:
                        token.remaining = None
                    if token.blocked_until <= wake:
                        token.blocked_until = 0.0

    def _check_ended(self) -> None:
        if self._ended is not None:
            raise SourceError(str(self._ended))

    def _auth_error(self, state: TokenState) -> AuthError:
        return AuthError(
            "GITHUB_TOKEN",
            f"GitHub answered 401 Bad credentials for entry {state.position} of {self.pool} "
            "in the pool; fix or remove it",
        )

    def _before_retry(self) -> None:
        """urllib3 is about to retry (a 5xx or a connection error): the retry is paced too."""
        pacer: Pacer | None = getattr(self._local, "pacer", None)
        if pacer is not None:
            pacer.retry()

    def _send(
        self, state: TokenState, url: str, params: dict[str, Any] | None, headers: dict[str, str]
    ) -> requests.Response | None:
        """One paced request with `state`'s token, urllib3's retries inside it paced as well (None:
        not sent, the token was refused while it waited for its turn)."""
        if state.token is not None:
            headers = {**headers, "Authorization": f"Bearer {state.token}"}
        pacer = self.pacers[self.tokens.index(state)]
        reserved, waited = pacer.acquire()
        if self._ended is not None or self.clock() < state.blocked_until:
            # Refused while this request waited for its turn: it is not sent.
            pacer.cancel(reserved)
            self._check_ended()
            return None
        p = state.position
        if waited > 0.001:
            self._add(**{f"token{p}_waits": 1, f"token{p}_wait_seconds": waited})
        self._local.pacer = pacer
        started = time.monotonic()
        try:
            resp = self.session.get(url, params=params, headers=headers, timeout=TIMEOUT)
            if resp.status_code in (403, 429) and _secondary_answer(resp):
                # Blocked before the slot is freed, so no thread of this client sends after it.
                with self._lock:
                    state.blocked_until = max(state.blocked_until, self.clock() + _retry_after(resp, 1))
        except requests.RequestException:
            self._add(requests=1, **{f"token{p}_requests": 1})
            raise
        finally:
            self._local.pacer = None
            pacer.release(reserved, time.monotonic() - started)
        history = getattr(getattr(resp.raw, "retries", None), "history", ()) or ()
        self._add(requests=1 + len(history), retries=len(history), **{f"token{p}_requests": 1 + len(history)})
        return resp

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
            try:
                resp = self._send(state, url, params, headers)
            except requests.RequestException as exc:
                raise SourceError(f"GET {_short(url)} failed after retries: {type(exc).__name__}") from None
            if resp is None:
                continue  # _pick chooses again
            self._note(state, resp)
            status = resp.status_code
            if status == 304:
                self._add(not_modified=1)
                return resp
            if status == 401:
                raise self._auth_error(state)
            if status in (403, 429):
                if not _secondary_answer(resp):
                    log.info(
                        "GitHub pool entry %d exhausted until %s",
                        state.position,
                        time.strftime("%H:%M:%S", time.gmtime(state.reset)),
                    )
                    continue  # primary limit: _pick switches token or sleeps until the reset
                secondary_tries += 1
                if secondary_tries > SECONDARY_MAX_TRIES:
                    raise SourceError(
                        f"GET {_short(url)}: still rate limited (secondary) after {secondary_tries} tries"
                    )
                self._secondary(state, resp, secondary_tries)
                continue
            if status >= 500:
                raise SourceError(f"GET {_short(url)} answered {status} after retries")
            return resp

    def _secondary(self, state: TokenState, resp: requests.Response, tries: int) -> None:
        """A secondary-limit answer: nothing more is asked with this token until `retry-after` (or
        a minute) has passed; past `secondary_wait_limit` seconds in the run, the run ends."""
        wait = _retry_after(resp, tries) * random.uniform(1.0, 1.2)
        with self._lock:
            state.blocked_until = max(state.blocked_until, self.clock() + wait)
            state.secondary_wait += wait
            total = state.secondary_wait
        self._add(secondary_waits=1, retries=1, **{f"token{state.position}_secondary": 1})
        log.info(
            "secondary rate limit on %s with pool entry %d: no request with it for %.1fs",
            _short(resp.url),
            state.position,
            wait,
        )
        limit = self.secondary_wait_limit
        if limit is not None and total > limit:
            error = SourceError(
                f"GitHub kept pool entry {state.position} of {self.pool} refused for secondary rate "
                f"limits: {total:.0f}s of waits in this run, past GITHUB_SECONDARY_WAIT_SECONDS "
                f"({limit:g}s)"
            )
            with self._lock:
                self._ended = self._ended or error
            self._ending.set()
            raise error

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


def _secondary_answer(resp: requests.Response) -> bool:
    """A 403/429 that is not the primary budget's exhaustion (remaining 0 without retry-after)."""
    return not (resp.headers.get("x-ratelimit-remaining") == "0" and "retry-after" not in resp.headers)


def _retry_after(resp: requests.Response, tries: int) -> float:
    """A secondary answer's `retry-after`, else a minute, doubling with each try."""
    after = resp.headers.get("retry-after")
    if after and after.replace(".", "", 1).isdigit():
        return float(after)
    return float(SECONDARY_DEFAULT_WAIT * 2 ** (tries - 1))


def _short(url: str) -> str:
    """The URL without its query (cursors are long and say nothing to a reader)."""
    return url.split("?", 1)[0]
