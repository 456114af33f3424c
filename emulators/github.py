"""A local emulator of the GitHub REST endpoints the crawler uses, with switchable faults.

Serves the files written by `emulators.github_data`:
    GET /orgs/{org}                      organization summary (public_repos)
    GET /orgs/{org}/repos                per_page (max 100), opaque-cursor `Link` pagination
    GET /repos/{o}/{r}/commits           newest first (committer date), per_page, since/until
                                         (inclusive, committer date), sha; ETag + If-None-Match -> 304;
                                         409 for an empty repository, 404 for a "gone" one
    GET /rate_limit                      free
    GET /_emulator/stats                 counters (JSON); GET /_emulator/faults?name=value sets faults

Every answer carries `x-ratelimit-*` headers. When a token set is configured, an unknown token
answers 401. Each token (or the anonymous caller) has `rate_limit` requests per window; when
exhausted the API answers 403 with remaining 0 until the reset epoch, then the budget refills.
A 304 does not count. Faults (all runtime-switchable with `set_faults`): `error_rate` (5xx),
`drop_rate` (connection closed without an answer), `secondary_rate` (403/429 + retry-after),
`latency` (seconds slept per request; a sleep, so it costs no CPU).

Secondary limits (GitHub's "Rate limits for the REST API"), per token, off by default: at most
`secondary_concurrent` requests in flight, `secondary_points` points (a GET is one) and
`secondary_seconds` seconds of response time (each answer's time, counted when it ends) over a
sliding `secondary_window` (60 s). The first request over a limit answers 403 "You have exceeded
a secondary rate limit" with `x-ratelimit-remaining` not 0 and `retry-after: secondary_penalty`;
the token is then refused (403) until the penalty ends, and requests made during it are counted
(`secondary.during_penalty` in the stats). GitHub's documented values: `set_faults(
secondary_concurrent=100, secondary_points=900, secondary_seconds=90)`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import math
import os
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from emulators.base import BackgroundServer, QuietHandler
from emulators.github_data import iso, load_commits, load_org, parse_iso

log = logging.getLogger(__name__)

API_VERSION_HEADERS = {"X-GitHub-Media-Type": "github.v3; format=json", "Content-Type": "application/json"}


@dataclass
class Faults:
    """The emulator's switchable misbehaviour."""

    latency: float = 0.0
    error_rate: float = 0.0
    drop_rate: float = 0.0
    secondary_rate: float = 0.0
    retry_after: int = 1
    secondary_status: int = 403
    # Fail every commits request after this many requests were served (a dying upstream).
    fail_after: int | None = None
    # Secondary limits per token (None: not enforced), over a sliding `secondary_window` seconds.
    secondary_concurrent: int | None = None
    secondary_points: int | None = None
    secondary_seconds: float | None = None
    secondary_window: float = 60.0
    secondary_penalty: float = 60.0


DOCUMENTED_SECONDARY = {"secondary_concurrent": 100, "secondary_points": 900, "secondary_seconds": 90.0}
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)


@dataclass
class Secondary:
    """One token's secondary-limit bookkeeping (and the peaks it reached, for tests and benches)."""

    in_flight: int = 0
    points: deque[float] = field(default_factory=deque)  # arrival times of admitted requests
    answers: deque[tuple[float, float]] = field(default_factory=deque)  # (end, seconds)
    answer_seconds: float = 0.0  # sum of `answers`
    penalty_until: float = 0.0
    peak_concurrent: int = 0
    peak_points: int = 0
    peak_seconds: float = 0.0
    answered: int = 0  # secondary-limit answers (the first over a limit, then during the penalty)
    during_penalty: int = 0
    by_limit: dict[str, int] = field(default_factory=dict)

    def prune(self, now: float, window: float) -> None:
        while self.points and self.points[0] <= now - window:
            self.points.popleft()
        while self.answers and self.answers[0][0] <= now - window:
            self.answer_seconds -= self.answers.popleft()[1]


@dataclass
class Budget:
    remaining: int
    reset: int
    used: int = 0


@dataclass
class Counters:
    requests: int = 0
    not_modified: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    faults: int = 0


class _Data:
    """Organization files, reloaded when they change on disk (so tests can push new commits)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()
        self._orgs: dict[str, tuple[float, dict[str, Any]]] = {}
        self._commits: dict[tuple[str, str], tuple[float, list[dict[str, Any]]]] = {}

    def org(self, org: str) -> dict[str, Any] | None:
        path = self.root / org / "org.json"
        if not path.exists():
            return None
        mtime = path.stat().st_mtime
        with self._lock:
            cached = self._orgs.get(org)
            if cached is None or cached[0] != mtime:
                cached = (mtime, load_org(self.root, org))
                self._orgs[org] = cached
            return cached[1]

    def commits(self, org: str, repo: str) -> list[dict[str, Any]]:
        path = self.root / org / "commits" / f"{repo}.jsonl"
        mtime = path.stat().st_mtime if path.exists() else 0.0
        with self._lock:
            cached = self._commits.get((org, repo))
            if cached is None or cached[0] != mtime:
                items = load_commits(self.root, org, repo)
                items.sort(key=lambda c: (c["commit"]["committer"]["date"], c["sha"]), reverse=True)
                cached = (mtime, items)
                self._commits[(org, repo)] = cached
            return cached[1]


def _cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o{offset}:{offset * 7919 % 1000003}".encode()).decode().rstrip("=")


def _offset(cursor: str) -> int:
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    return int(raw.split(":", 1)[0][1:])


class EmulatorServer(BackgroundServer):
    """A running emulator: `.url`, `.stop()`, `.set_faults(...)`, `.counters`."""

    def __init__(
        self,
        root: Path,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tokens: list[str] | None = None,
        rate_limit: int = 5000,
        reset_in: float = 3600.0,
        seed: int = 0,
        **faults: Any,
    ) -> None:
        self.data = _Data(root)
        self.faults = Faults(**faults)
        self.tokens = set(tokens) if tokens else None
        self.rate_limit = rate_limit
        self.reset_in = reset_in
        self.counters = Counters()
        self.budgets: dict[str, Budget] = {}
        self.secondary: dict[str, Secondary] = {}
        self.lock = threading.Lock()
        self.rng = random.Random(seed)
        self.serve(_Handler, host, port, "github-emulator")

    def set_faults(self, **changes: Any) -> None:
        """Switch faults at runtime, e.g. `set_faults(error_rate=0.1, latency=0.05)`."""
        with self.lock:
            for key, value in changes.items():
                if not hasattr(self.faults, key):
                    raise ValueError(f"unknown fault {key}")
                setattr(self.faults, key, value)

    def set_budget(self, token: str, remaining: int, reset_in: float) -> None:
        """Force a token's primary budget (e.g. exhausted until `reset_in` seconds from now)."""
        with self.lock:
            self.budgets[token] = Budget(remaining, math.ceil(time.time() + reset_in))

    def reset_counters(self) -> None:
        """Zero the counters and the secondary-limit peaks (windows and penalties go on)."""
        with self.lock:
            self.counters = Counters()
            for state in self.secondary.values():
                state.peak_concurrent = state.peak_points = state.answered = state.during_penalty = 0
                state.peak_seconds = 0.0
                state.by_limit = {}

    def stats(self) -> dict[str, Any]:
        with self.lock:
            c = self.counters
            return {
                "requests": c.requests,
                "not_modified": c.not_modified,
                "by_status": dict(c.by_status),
                "by_kind": dict(c.by_kind),
                "faults": c.faults,
                "secondary": {
                    "answers": sum(s.answered for s in self.secondary.values()),
                    "during_penalty": sum(s.during_penalty for s in self.secondary.values()),
                    "tokens": {
                        key: {
                            "answers": s.answered,
                            "during_penalty": s.during_penalty,
                            "by_limit": dict(s.by_limit),
                            "peak_concurrent": s.peak_concurrent,
                            "peak_points": s.peak_points,
                            "peak_seconds": round(s.peak_seconds, 3),
                        }
                        for key, s in self.secondary.items()
                    },
                },
            }

    def admit(self, key: str, faults: Faults) -> tuple[str | None, float]:
        """Count a request against `key`'s secondary limits: (None, 0) when admitted (call
        `finish` when answered), else (the limit, seconds of penalty left) for a 403."""
        now = time.time()
        with self.lock:
            state = self.secondary.setdefault(key, Secondary())
            state.prune(now, faults.secondary_window)
            over = None
            if now < state.penalty_until:
                state.during_penalty += 1
                over = "penalty"
            elif (
                faults.secondary_concurrent is not None and state.in_flight + 1 > faults.secondary_concurrent
            ):
                over = "concurrent"
            elif faults.secondary_points is not None and len(state.points) + 1 > faults.secondary_points:
                over = "points"
            elif faults.secondary_seconds is not None and state.answer_seconds >= faults.secondary_seconds:
                over = "seconds"
            if over is not None:
                if over != "penalty":
                    state.penalty_until = now + faults.secondary_penalty
                state.answered += 1
                state.by_limit[over] = state.by_limit.get(over, 0) + 1
                self.counters.faults += 1
                return over, state.penalty_until - now
            state.in_flight += 1
            state.points.append(now)
            state.peak_concurrent = max(state.peak_concurrent, state.in_flight)
            state.peak_points = max(state.peak_points, len(state.points))
            return None, 0.0

    def finish(self, key: str, started: float, window: float) -> None:
        """An admitted request was answered: its response time joins the token's window."""
        now = time.time()
        with self.lock:
            state = self.secondary[key]
            state.in_flight -= 1
            state.prune(now, window)
            state.answers.append((now, now - started))
            state.answer_seconds += now - started
            state.peak_seconds = max(state.peak_seconds, state.answer_seconds)


class _Handler(QuietHandler):
    emulator: EmulatorServer
    # Headers and body go out as two writes: without this, Nagle + delayed ACK add ~40 ms each.
    disable_nagle_algorithm = True

    # --- plumbing -------------------------------------------------------------------------------
    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        if status == 304:
            payload = b""
        elif isinstance(body, bytes):
            payload = body  # already serialised (pages: serialised once, for the body and the ETag)
        else:
            payload = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(status)
        for key, value in {**API_VERSION_HEADERS, **(headers or {})}.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if payload:
            self.wfile.write(payload)
        em = self.emulator
        with em.lock:
            em.counters.by_status[status] = em.counters.by_status.get(status, 0) + 1
            if status == 304:
                em.counters.not_modified += 1

    def _token(self) -> str | None:
        auth = self.headers.get("Authorization", "")
        for prefix in ("Bearer ", "token ", "bearer "):
            if auth.startswith(prefix):
                return auth[len(prefix) :].strip()
        return None

    def _budget(self, key: str) -> Budget:
        em = self.emulator
        budget = em.budgets.get(key)
        now = time.time()
        if budget is None or now >= budget.reset:
            budget = Budget(em.rate_limit, math.ceil(now + em.reset_in))
            em.budgets[key] = budget
        return budget

    def _rate_headers(self, budget: Budget) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.emulator.rate_limit),
            "x-ratelimit-remaining": str(max(0, budget.remaining)),
            "x-ratelimit-used": str(budget.used),
            "x-ratelimit-reset": str(budget.reset),
            "x-ratelimit-resource": "core",
        }

    # --- dispatch -------------------------------------------------------------------------------
    def do_GET(self) -> None:
        em = self.emulator
        parsed = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
        parts = [p for p in parsed.path.split("/") if p]
        if parts[:1] == ["_emulator"]:
            self._control(parts, query)
            return
        kind = (
            "commits"
            if len(parts) == 4 and parts[0] == "repos" and parts[3] == "commits"
            else "repos"
            if parts[:1] == ["orgs"] and len(parts) == 3
            else "/".join(parts[:1])
        )
        started = time.time()
        with em.lock:
            em.counters.requests += 1
            em.counters.by_kind[kind] = em.counters.by_kind.get(kind, 0) + 1
            served = em.counters.requests
            faults = Faults(**vars(em.faults))
            roll, roll2, roll3 = em.rng.random(), em.rng.random(), em.rng.random()
        limited = any(
            getattr(faults, name) is not None
            for name in ("secondary_concurrent", "secondary_points", "secondary_seconds")
        )
        if not limited:
            self._serve(parts, query, parsed.path, faults, served, (roll, roll2, roll3))
            return
        key = self._token() or f"anonymous:{self.client_address[0]}"
        over, left = em.admit(key, faults)
        if over is not None:
            with em.lock:
                headers = self._rate_headers(self._budget(key))
            headers["retry-after"] = str(max(1, math.ceil(left)))
            self._send(403, {"message": SECONDARY_MESSAGE, "status": "403"}, headers)
            return
        try:
            self._serve(parts, query, parsed.path, faults, served, (roll, roll2, roll3))
        finally:
            em.finish(key, started, faults.secondary_window)

    def _serve(  # noqa: PLR0917 - the request's parts, parsed once by do_GET
        self,
        parts: list[str],
        query: dict[str, str],
        path: str,
        faults: Faults,
        served: int,
        rolls: tuple[float, float, float],
    ) -> None:
        em = self.emulator
        roll, roll2, roll3 = rolls
        if faults.latency > 0:
            time.sleep(faults.latency)
        if roll < faults.drop_rate:
            with em.lock:
                em.counters.faults += 1
            self.close_connection = True
            self.connection.close()
            return
        token = self._token()
        if em.tokens is not None and token is not None and token not in em.tokens:
            self._send(401, {"message": "Bad credentials", "status": "401"})
            return
        key = token or f"anonymous:{self.client_address[0]}"
        if parts == ["rate_limit"]:
            with em.lock:
                budget = self._budget(key)
                headers = self._rate_headers(budget)
            core = {
                "limit": em.rate_limit,
                "remaining": budget.remaining,
                "reset": budget.reset,
                "used": budget.used,
            }
            self._send(200, {"resources": {"core": core}, "rate": core}, headers)
            return
        if roll2 < faults.error_rate or (faults.fail_after is not None and served > faults.fail_after):
            with em.lock:
                em.counters.faults += 1
            self._send(502, {"message": "Server Error"})
            return
        with em.lock:
            budget = self._budget(key)
            if budget.remaining <= 0:
                headers = self._rate_headers(budget)
                exhausted = True
            else:
                exhausted = False
        if exhausted:
            self._send(403, {"message": "API rate limit exceeded"}, headers)
            return
        if roll3 < faults.secondary_rate:
            with em.lock:
                em.counters.faults += 1
                headers = self._rate_headers(budget)
            headers["retry-after"] = str(faults.retry_after)
            self._send(
                faults.secondary_status, {"message": "You have exceeded a secondary rate limit."}, headers
            )
            return
        status, body, extra = self._route(parts, query, path)
        with em.lock:
            if status != 304:
                budget.remaining -= 1
                budget.used += 1
            headers = {**self._rate_headers(budget), **extra}
        self._send(status, body, headers)

    def _control(self, parts: list[str], query: dict[str, str]) -> None:
        em = self.emulator
        if parts[1:] == ["faults"]:
            changes: dict[str, Any] = {}
            for key, value in query.items():
                changes[key] = None if value == "" else float(value) if "." in value else int(value)
            em.set_faults(**changes)
            self._send(200, vars(em.faults))
        else:
            self._send(200, em.stats())

    def _route(self, parts: list[str], query: dict[str, str], path: str) -> tuple[int, Any, dict[str, str]]:
        em = self.emulator
        if len(parts) == 2 and parts[0] == "orgs":
            org = em.data.org(parts[1])
            if org is None:
                return 404, {"message": "Not Found"}, {}
            return 200, {"login": org["login"], "public_repos": len(org["repos"])}, {}
        if len(parts) == 3 and parts[0] == "orgs" and parts[2] == "repos":
            org = em.data.org(parts[1])
            if org is None:
                return 404, {"message": "Not Found"}, {}
            items = [self._repo_json(org["login"], r) for r in org["repos"]]
            return self._page(items, query, path, etag=True)
        if len(parts) == 4 and parts[0] == "repos" and parts[3] == "commits":
            org = em.data.org(parts[1])
            repo = next((r for r in (org or {}).get("repos", []) if r["name"] == parts[2]), None)
            if org is None or repo is None or repo["status"] == "gone":
                return 404, {"message": "Not Found"}, {}
            if repo["status"] == "empty":
                return 409, {"message": "Git Repository is empty."}, {}
            commits = em.data.commits(parts[1], parts[2])
            since, until = query.get("since"), query.get("until")
            if since or until:
                try:
                    lo = iso(parse_iso(since)) if since else ""
                    hi = iso(parse_iso(until)) if until else "9999"
                except ValueError:
                    return 422, {"message": "Validation Failed"}, {}
                # Dates are stored as YYYY-MM-DDTHH:MM:SSZ, so text order is time order.
                commits = [c for c in commits if lo <= c["commit"]["committer"]["date"] <= hi]
            return self._page(commits, query, path, etag=True)
        return 404, {"message": "Not Found"}, {}

    @staticmethod
    def _repo_json(org: str, repo: dict[str, Any]) -> dict[str, Any]:
        return {
            "name": repo["name"],
            "full_name": f"{org}/{repo['name']}",
            "private": False,
            "fork": repo["fork"],
            "archived": repo["archived"],
            "created_at": repo["created_at"],
            "pushed_at": repo["pushed_at"],
            "default_branch": "main",
        }

    def _page(
        self, items: list[dict[str, Any]], query: dict[str, str], path: str, *, etag: bool
    ) -> tuple[int, Any, dict[str, str]]:
        try:
            per_page = max(1, min(100, int(query.get("per_page", "30"))))
            offset = _offset(query["cursor"]) if "cursor" in query else 0
        except ValueError:
            return 422, {"message": "Validation Failed"}, {}
        page = items[offset : offset + per_page]
        headers: dict[str, str] = {}
        links = []
        rest = {k: v for k, v in query.items() if k != "cursor"}
        base = f"{self.emulator.url}{path}"
        if offset + per_page < len(items):
            links.append(f'<{base}?{urlencode({**rest, "cursor": _cursor(offset + per_page)})}>; rel="next"')
            last = (len(items) - 1) // per_page * per_page
            links.append(f'<{base}?{urlencode({**rest, "cursor": _cursor(last)})}>; rel="last"')
        if offset > 0:  # as GitHub does past page 1 (recorded answers: next, last, first, prev)
            links.append(f'<{base}?{urlencode({**rest, "cursor": _cursor(0)})}>; rel="first"')
            prev = max(0, offset - per_page)
            links.append(f'<{base}?{urlencode({**rest, "cursor": _cursor(prev)})}>; rel="prev"')
        if links:
            headers["Link"] = ", ".join(links)
        payload = json.dumps(page, separators=(",", ":")).encode()
        if etag:
            digest = hashlib.sha1(f"{path}?{sorted(rest.items())}@{offset}".encode() + payload).hexdigest()
            tag = f'W/"{digest}"'
            headers["ETag"] = tag
            if self.headers.get("If-None-Match") == tag:
                return 304, None, headers
        return 200, payload, headers


def start(root: Path, host: str = "127.0.0.1", port: int = 0, **options: Any) -> EmulatorServer:
    """Start the emulator in a daemon thread; see the module docstring for the options."""
    return EmulatorServer(Path(root), host, port, **options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="GitHub REST API emulator (offline demo and tests)")
    parser.add_argument("--root", type=Path, required=True, help="data folder (see emulators.github_data)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds slept per request")
    parser.add_argument("--demo", action="store_true", help="generate the demo-org data first if missing")
    parser.add_argument(
        "--secondary-limits",
        action="store_true",
        help="enforce GitHub's documented secondary limits per token (100 concurrent, 900 points "
        "and 90 s of response time per minute)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"))
    if args.demo and not (args.root / "demo-org" / "org.json").exists():
        from emulators.github_data import generate_demo

        generate_demo(args.root)
    limits: dict[str, Any] = dict(DOCUMENTED_SECONDARY) if args.secondary_limits else {}
    server = start(args.root, args.host, args.port, latency=args.latency, **limits)
    log.info("GitHub emulator on %s serving %s", server.url, args.root)
    server.run_until_interrupted()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
