"""What a run did: repository statuses, request counters summed over every item, stage timings.

Pure (plain dicts in, a dataclass out), so the summary rules are tested without Spark.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from common.tables import REPO_EMPTY, REPO_GONE, REPO_OK
from jobs.github_contributors.crawl import UNCHANGED
from jobs.github_contributors.resume import Crawled

NAME = "github_contributors"
# The write stage's parts, each timed only when its table(s) were rewritten. The MERGE runs beside
# the audit, and crawl_state is written beside the gold tables: the parts overlap.
WRITE_STAGES = ("merge", "audit", "gold", "crawl_state")


def add_up(counters: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Key-by-key sum of request counters (`Stats.as_dict()` of items, partitions or the driver)."""
    total: dict[str, float] = {}
    for counter in counters:
        for key, value in counter.items():
            total[key] = total.get(key, 0) + value
    return total


def per_token(totals: Mapping[str, float]) -> dict[int, dict[str, float]]:
    """`token{p}_{counter}` keys of summed counters, as {p: {counter: value}}."""
    out: dict[int, dict[str, float]] = {}
    for key, value in totals.items():
        head, _, counter = key.partition("_")
        if head.startswith("token") and head[5:].isdigit() and counter:
            out.setdefault(int(head[5:]), {})[counter] = value
    return out


def repository_statuses(crawled: Crawled) -> dict[str, str]:
    """Each repository's status as the crawl met it: its head's, unless a window then met a 404/409.

    Values: `REPO_OK`, `REPO_EMPTY`, `REPO_GONE` or `UNCHANGED` (the head answered 304).
    """
    status = {m["repo"]: m["status"] for m in crawled.heads}
    for window in crawled.windows:
        if window.get("status") in (REPO_GONE, REPO_EMPTY):
            status[window["repo"]] = window["status"]
    return status


def stored_statuses(statuses: Mapping[str, str]) -> dict[str, str]:
    """The statuses the tables keep: an unchanged repository is `ok`, as the last run left it."""
    return {name: REPO_OK if value == UNCHANGED else value for name, value in statuses.items()}


@dataclass
class RunReport:
    """What a run did; logged as the summary line and returned to tests and the bench."""

    org: str
    repos: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    gone: list[str] = field(default_factory=list)
    new_commits: int = 0
    requests: int = 0
    not_modified: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_seconds: float = 0.0
    # Secondary-limit answers (each honoured: the token asked nothing until its retry-after).
    secondary_answers: int = 0
    secondary_wait_seconds: float = 0.0
    # Per token, by position in the pool (never its value): requests, pacing waits and their
    # seconds, secondary-limit answers.
    tokens: dict[int, dict[str, float]] = field(default_factory=dict)
    items: int = 0
    windows: int = 0
    split_repos: int = 0
    resumed_items: int = 0
    # The run's stage times (common.timing.Stages, as the job's JobRun left them).
    stages: dict[str, float] = field(default_factory=dict)
    spark_started: bool | None = None  # True too when the caller gave its session (tests, benches)
    # The whole start-up, of which `stages["spark_start"]` is the part the run waited for (the
    # rest overlapped the driver's requests); None when the caller's session was used.
    spark_startup_seconds: float | None = None

    @property
    def list_seconds(self) -> float:
        return self.stages.get("list", 0.0)

    @property
    def crawl_seconds(self) -> float:
        return self.stages.get("crawl", 0.0)

    @property
    def write_seconds(self) -> float:
        return self.stages.get("write", 0.0)

    def count(self, crawled: Crawled, statuses: Mapping[str, str], driver: Mapping[str, float]) -> None:
        """Fill the counters from the crawled items' metas and the driver's own client counters."""
        self.items = len(crawled.items)
        self.windows = len(crawled.windows)
        self.split_repos = crawled.split_repos
        self.new_commits = sum(int(m.get("commits", 0)) for m in crawled.items)
        totals = add_up([*(m.get("stats") or {} for m in crawled.items), driver])
        self.requests = int(totals.get("requests", 0))
        self.not_modified = int(totals.get("not_modified", 0))
        self.retries = int(totals.get("retries", 0))
        self.rate_limit_waits = int(totals.get("rate_limit_waits", 0))
        self.rate_limit_wait_seconds = float(totals.get("rate_limit_wait_seconds", 0.0))
        self.secondary_answers = int(totals.get("secondary_waits", 0))
        self.secondary_wait_seconds = float(totals.get("secondary_wait_seconds", 0.0))
        self.tokens = per_token(totals)
        self.statuses = dict(Counter(statuses.values()))
        self.gone = sorted(name for name, value in statuses.items() if value == REPO_GONE)

    def line(self) -> str:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(self.statuses.items()))
        return (
            f"{NAME} org={self.org}: repos {self.repos} ({statuses}), new commits {self.new_commits}, "
            f"requests {self.requests}, 304s {self.not_modified}, retries {self.retries}, "
            f"rate-limit waits {self.rate_limit_waits} ({self.rate_limit_wait_seconds:.0f}s), "
            f"{self.token_part()}, "
            f"items {self.items} ({self.windows} windows, {self.split_repos} repos split, "
            f"{self.resumed_items} resumed), "
            f"crawl {self.list_seconds + self.crawl_seconds:.1f}s, "
            f"write {self.write_seconds:.1f}s ({self.write_breakdown()}){self.spark_part()}"
        )

    def token_part(self) -> str:
        """Requests and pacing waits per token (by position), and the secondary-limit answers."""
        tokens = "; ".join(
            f"{position}: {int(c.get('requests', 0))} requests, {int(c.get('waits', 0))} waits "
            f"({c.get('wait_seconds', 0.0):.0f}s)"
            + (f", {int(c['secondary'])} secondary" if c.get("secondary") else "")
            for position, c in sorted(self.tokens.items())
        )
        secondary = f"secondary-limit answers {self.secondary_answers}"
        if self.secondary_answers:
            secondary += f" ({self.secondary_wait_seconds:.0f}s waited)"
        return f"tokens [{tokens}], {secondary}" if tokens else secondary

    def spark_part(self) -> str:
        """Spark's start-up, a stage of its own; a run with nothing to do never starts it."""
        if "spark_start" in self.stages:
            waited = self.stages["spark_start"]
            startup = self.spark_startup_seconds
            if startup is not None and f"{startup:.1f}" != f"{waited:.1f}":
                return f", spark start {startup:.1f}s ({waited:.1f}s waited)"
            return f", spark start {waited:.1f}s"
        return ", spark not started" if self.spark_started is False else ""

    def write_breakdown(self) -> str:
        """Where the write stage went; a table left as it was (inputs unchanged) says so."""
        parts = [f"{name} {self.stages[name]:.1f}s" for name in WRITE_STAGES if name in self.stages]
        return ", ".join(parts) or "no table rewritten"
