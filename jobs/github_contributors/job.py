"""main(): list -> crawl (head items, then windows of big repositories) -> transform and audit the
org's gold rows beside the MERGE of its new commits -> publish the Delta tables."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyspark.sql import functions as sf

from common.cli import settings_from_args
from common.errors import ConfigError, PlatformError
from common.inputs import inputs_digest
from common.runner import Held, JobRun
from common.schema import add_missing_columns, local_frame
from common.settings import Settings
from common.spark import LazySpark
from common.storage import RawStore
from common.tables import (
    GITHUB_COMMITS,
    GITHUB_CONTRIBUTORS,
    GITHUB_CRAWL_STATE,
    GITHUB_NEW_CONTRIBUTORS,
    GITHUB_REPOSITORIES,
    REPO_OK,
    Table,
)
from jobs.github_contributors import gates, identities, load, resume, transform
from jobs.github_contributors.client import GitHubClient
from jobs.github_contributors.crawl import UNCHANGED, CrawlConfig, plan_and_save, run_items
from jobs.github_contributors.extract import Progress, crawl_items, list_repositories
from jobs.github_contributors.identity_source import read_identity_map
from jobs.github_contributors.pacing import Budget, Pacer
from jobs.github_contributors.pending import PendingStore
from jobs.github_contributors.report import RunReport, repository_statuses, stored_statuses
from jobs.github_contributors.resume import Crawled, Item

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

NAME = "github_contributors"
LISTING_FILE = "listing.json"
# What the gold tables were last computed from (common.inputs.Published), under
# LAKE_ROOT/raw/github/{org}/ beside the listing and pending folders; written once they hold it.
GOLD_RECORD = "gold_published.json"
GOLD_TABLES = [GITHUB_CONTRIBUTORS, GITHUB_NEW_CONTRIBUTORS, GITHUB_REPOSITORIES]
# Each token's (remaining, reset), in pool order (GitHubClient.budgets).
Budgets = list[tuple[int | None, float]]


def main(args: argparse.Namespace, job: JobRun | None = None) -> int:
    """Entry point behind the CLI: checks that fail fast, then the run over Spark started lazily."""
    own = job is None
    job = job if job is not None else JobRun(NAME, settings_from_args(args))
    run_date: date = args.run_date or datetime.now(UTC).date()
    if args.concurrency < 1:
        raise ConfigError("--concurrency", "must be at least 1")
    job.lake.check()
    pacers = driver_pacers(job.settings)
    _check_org(job.settings, args.org, pacers)
    # Seconds of Spark work on an org's history: C2's optimised code would not repay its CPU.
    job.use_spark(short_job=True)
    options = Options(args.full_refresh, args.concurrency, job.settings.github_progress_seconds)
    try:
        run_org(job, args.org, run_date, options, pacers)
    finally:
        if own:
            job.close()
    return 0


def run(
    spark: SparkSession | LazySpark,
    settings: Settings,
    org: str,
    run_date: date,
    *,
    full_refresh: bool = False,
    concurrency: int = 32,
    progress_seconds: float = 10.0,
    pacers: list[Pacer] | None = None,
) -> RunReport:
    """`run_org` outside the ledger, on the caller's session or LazySpark (tests, benches)."""
    job = JobRun(NAME, settings, spark=None if isinstance(spark, LazySpark) else spark)
    if isinstance(spark, LazySpark):
        job.spark = spark
    return run_org(job, org, run_date, Options(full_refresh, concurrency, progress_seconds), pacers)


@dataclass(frozen=True)
class Options:
    """The run's own flags (the CLI's, or a test's)."""

    full_refresh: bool = False
    concurrency: int = 32
    progress_seconds: float = 10.0


@dataclass
class OrgRun:
    """What the steps of one organization's run share."""

    job: JobRun
    org: str
    run_date: date
    options: Options
    # The driver's pacers, one per token (its whole budget), shared by every driver-side client.
    pacers: list[Pacer]
    report: RunReport
    client: GitHubClient = field(init=False)
    identity_map: list[identities.MapEntry] = field(init=False)
    listing_store: PendingStore = field(init=False)
    pending: PendingStore = field(init=False)
    records: RawStore = field(init=False)

    def __post_init__(self) -> None:
        settings = self.job.settings
        self.identity_map = read_identity_map(settings)  # a bad map ends the run before the crawl
        self.client = driver_client(settings, self.pacers)
        self.listing_store = PendingStore(settings, self.org, "listing")
        self.pending = PendingStore(settings, self.org)
        self.records = self.job.lake.store("raw", "github", self.org)

    @property
    def settings(self) -> Settings:
        return self.job.settings

    def plan_of(self, head: str) -> list[Item] | None:
        """The window plan saved for a head item (None when it was never planned)."""
        result: list[Item] | None = self.pending.get_json(f"plans/{head}.json")
        return result


def run_org(
    job: JobRun, org: str, run_date: date, options: Options, pacers: list[Pacer] | None = None
) -> RunReport:
    """The whole job for one organization; idempotent, resumable (see jobs.github_contributors.crawl).

    The listing, the last run's crawl state and the conditional requests need no Spark, so a run
    where every repository answered 304 and nothing else changed ends without starting it.
    """
    run = OrgRun(job, org, run_date, options, pacers or driver_pacers(job.settings), RunReport(org))
    with job.stage("list"):
        listing, listing_cache = _list(run)
    run.report.repos = len(listing)
    previous = {} if options.full_refresh else load.state_rows(job.lake.reader, org)
    if _needs_spark(listing, previous, run.pending, full_refresh=options.full_refresh):
        job.start_spark()  # the JVM starts while the driver asks the heads
    with job.stage("crawl"):
        crawled = _crawl(run, listing, previous)
    statuses = _count(run, crawled)
    repo_rows = load.repository_rows(org, listing, statuses)
    request, inputs = _gold_request(run), inputs_digest({"repositories": sorted(repo_rows)}, [])
    scope = _gold_scope(run, request, inputs)
    with job.stage("write"):
        _write(run, repo_rows, crawled, statuses, previous, scope=scope)
        # Only now do the tables hold this run: the next run may trust the listing's ETags.
        run.listing_store.put_json(LISTING_FILE, listing_cache)
        if scope is not None:
            job.publish_record(run.records, GOLD_RECORD, request, inputs, GOLD_TABLES)
        run.pending.clear()
    return _finish(run)


# --- list -----------------------------------------------------------------------------------------


def pacing_budget(settings: Settings) -> Budget:
    """Each token's budget: the settings' per-minute values, kept over the pacing window."""
    return Budget.per_minute(
        settings.github_max_concurrent,
        settings.github_points_per_minute,
        settings.github_response_seconds_per_minute,
        settings.github_pacing_window_seconds,
    )


def driver_pacers(settings: Settings) -> list[Pacer]:
    """One pacer per token of the pool (an anonymous caller is a pool of one)."""
    return [Pacer(pacing_budget(settings)) for _ in range(max(1, len(settings.github_tokens)))]


def driver_client(settings: Settings, pacers: list[Pacer], pool_size: int = 32) -> GitHubClient:
    return GitHubClient(
        settings.github_api_url,
        settings.github_tokens,
        pool_size=pool_size,
        pacers=pacers,
        secondary_wait_limit=settings.github_secondary_wait_seconds,
    )


def _check_org(settings: Settings, org: str, pacers: list[Pacer]) -> None:
    """Fail fast on a bad token or an unknown org before Spark starts."""
    probe = GitHubClient(settings.github_api_url, settings.github_tokens, pacers=pacers)
    if probe.get(f"orgs/{org}").status_code == 404:
        raise PlatformError(f"GitHub organization '{org}' not found at {settings.github_api_url}")


def _list(run: OrgRun) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The organization's repositories, each listing page asked with the last run's ETag."""
    run.client.probe_budgets()  # free: the driver learns which tokens are dry before listing
    previous = None if run.options.full_refresh else run.listing_store.get_json(LISTING_FILE)
    return list_repositories(run.client, run.org, previous)


def _needs_spark(
    listing: list[dict[str, Any]],
    previous: dict[str, dict[str, Any]],
    store: PendingStore,
    *,
    full_refresh: bool,
) -> bool:
    """Whether the run will surely need Spark: a repository the last run did not store (its
    history is crawled and MERGEd), a full refresh, or commits a killed run landed."""
    return (
        full_refresh
        or any(str(repo["name"]) not in previous for repo in listing)
        or bool(store.names("items", ".jsonl"))
    )


# --- crawl ----------------------------------------------------------------------------------------


def _crawl(run: OrgRun, listing: list[dict[str, Any]], previous: dict[str, dict[str, Any]]) -> Crawled:
    """Run the items a previous run did not land (all of them after a full refresh): every head
    in the driver (a 304 each when nothing changed, a page or two for a few new commits, page 1
    of a new repository, while Spark starts), new repositories' history on Spark (the windows of
    a big one, planned here)."""
    if run.options.full_refresh:
        run.pending.clear()
    run.client.probe_budgets()
    landed = run.pending.landed()
    run.report.resumed_items = len(landed)
    heads = resume.head_items(run.org, listing, previous)
    todo = resume.plan(heads, landed, run.plan_of)
    asked = [item for item in todo.items if item["kind"] == "head"]
    opened = [item["head"] for item in todo.items if item["kind"] == "open"]
    config = _crawl_config(run, _crawl_heads(run, asked, landed, opened))
    # Planned here, over the whole org: the biggest histories get the windows the budget allows.
    items = [item for item in todo.items if item["kind"] == "window"]
    items += plan_and_save(run.pending, opened, len(asked), run.options.concurrency, config.extra_ratio)
    if items:
        _crawl_on_spark(run, config, items, len(listing), landed)
    return resume.collect(run.org, heads, landed, todo.plans, run.plan_of)


def _crawl_heads(run: OrgRun, asked: list[Item], landed: dict[str, Item], opened: list[Item]) -> Budgets:
    """The head items, in the driver; a head with more than one page joins `opened` (the rest of
    its history is crawled on Spark). Returns the tokens' budgets as the driver left them."""
    budgets = run.client.budgets()
    if not asked:
        return budgets
    driver = driver_client(run.settings, run.pacers, pool_size=max(4, run.options.concurrency))
    driver.seed_budgets(budgets)  # its own counters: the metas carry them
    # The first head with new commits starts Spark: its MERGE will follow the crawl.
    for meta in run_items(driver, run.pending, asked, run.options.concurrency, run.job.start_spark):
        landed[meta["id"]] = meta
        if not meta.get("complete"):
            opened.append(meta)
    return driver.budgets()


def _crawl_config(run: OrgRun, budgets: Budgets) -> CrawlConfig:
    """What the executors need: the tokens, their budgets and the driver's recent pacing."""
    settings = run.settings
    return CrawlConfig(
        run.pending,
        run.org,
        settings.github_api_url,
        tuple(settings.github_tokens),
        threads=1,
        budgets=tuple(budgets),
        pacing=pacing_budget(settings),
        history=tuple(pacer.history() for pacer in run.pacers),
        secondary_wait_limit=settings.github_secondary_wait_seconds,
    )


def _crawl_on_spark(
    run: OrgRun, config: CrawlConfig, items: list[Item], repos: int, landed: dict[str, Item]
) -> None:
    """The windows of big histories on Spark, their progress logged while they run."""
    spark = run.job.session()
    progress_seconds = run.options.progress_seconds
    with Progress(run.pending, repos, progress_seconds) as progress:
        for meta in crawl_items(spark, config, items, run.options.concurrency):
            landed[meta["id"]] = meta
        if progress_seconds > 0:
            progress.poll()


def _count(run: OrgRun, crawled: Crawled) -> dict[str, str]:
    """The report's counters and the ledger's input; the statuses the tables keep."""
    statuses = repository_statuses(crawled)
    run.report.count(crawled, statuses, run.client.stats.as_dict())
    run.job.record_input("github", _fingerprint(run.settings, run.report))
    for name in run.report.gone:
        log.warning("repository %s/%s answered 404 (deleted or private): skipped", run.org, name)
    return stored_statuses(statuses)


def _fingerprint(settings: Settings, report: RunReport) -> dict[str, Any]:
    """The run's input as the ledger records it: where, how many repositories, how many were 304s."""
    unchanged = report.statuses.get(UNCHANGED, 0)
    return {
        "api": settings.github_api_url,
        "org": report.org,
        "repositories": report.repos,
        "not_modified_repositories": unchanged,
        "not_modified_share": round(unchanged / report.repos, 4) if report.repos else 0.0,
        "requests": report.requests,
        "not_modified_requests": report.not_modified,
        "secondary_limit_answers": report.secondary_answers,
        # By position in the pool, never the token's value.
        "tokens": [
            {
                "position": position,
                "requests": int(counts.get("requests", 0)),
                "pacing_waits": int(counts.get("waits", 0)),
                "pacing_wait_seconds": round(counts.get("wait_seconds", 0.0), 1),
                "secondary_limit_answers": int(counts.get("secondary", 0)),
            }
            for position, counts in sorted(report.tokens.items())
        ],
    }


# --- transform and audit, beside the MERGE --------------------------------------------------------


def _gold_request(run: OrgRun) -> str:
    """A digest of what every gold row depends on besides the commits and the listing (a change
    recomputes the whole org): the run month, the identity settings and the job's own code."""
    inputs = {
        "org": run.org,
        "run_month": transform.month_of(run.run_date),
        "identity_map": [repr(entry) for entry in run.identity_map],
        "bot_logins": sorted(run.settings.github_bot_logins_set),
        "quality_fault": run.settings.quality_fault,
    }
    return inputs_digest(inputs, [Path(__file__).parent])


# What a run rewrites of the gold tables: the whole org, the repositories whose rows changed, or nothing.
ORG_SCOPE, REPOS_SCOPE = "org", "repos"


def _gold_scope(run: OrgRun, request: str, inputs: str) -> str | None:
    """A table is rewritten only when what it is computed from changed. The gold tables: the whole
    org after a full refresh, a new run month, other identity settings or code, or a gold table
    written since they were computed; only the repositories whose inputs moved when commits
    landed or the listing changed (e.g. a new `pushed_at`; see `_gold_candidates`); nothing
    otherwise. A rerun with nothing new commits no Delta version."""
    broken = run.job.unreadable(GOLD_TABLES)
    run.job.repair(broken)  # then rewritten whole for the org (other orgs' lost rows: their next run)
    previous = run.job.published(run.records, GOLD_RECORD)
    if run.options.full_refresh or broken or not run.job.unchanged(previous, request, GOLD_TABLES):
        return ORG_SCOPE
    if run.pending.names("items", ".jsonl") or (previous is not None and previous.inputs != inputs):
        return REPOS_SCOPE
    return None


def _write(
    run: OrgRun,
    repo_rows: list[tuple[Any, ...]],
    crawled: Crawled,
    statuses: dict[str, str],
    previous: dict[str, dict[str, Any]],
    *,
    scope: str | None,
) -> None:
    """The MERGE of the landed commits beside the gold rows' computation and audit, then the
    rows whose inputs changed published (see `_gold_scope` and `load.changed_states`)."""
    now = datetime.now(UTC).replace(microsecond=0)
    with run.job.holding() as held:  # released once the tables are written (or the run failed)
        rows, targets = _merge_beside_gold(run, repo_rows, held, scope=scope)
        state = load.crawl_state_rows(run.org, crawled.heads, statuses, previous, now)
        moved = None if run.options.full_refresh or not previous else load.changed_states(state, previous)
        if moved is None or moved:
            rows[GITHUB_CRAWL_STATE] = local_frame(run.job.session(), state, load.STATE_SCHEMA)
            targets[GITHUB_CRAWL_STATE] = moved
        if rows:
            _publish(run, rows, targets, now)


def _gold_candidates(
    run: OrgRun,
    repo_rows: list[tuple[Any, ...]],
    existing: DataFrame | None,
    landed: DataFrame | None,
    silver: DataFrame,
) -> set[str] | None:
    """The repositories whose gold rows may move (None: all, when no commits were stored): those
    that got commits, those whose listing row changed or that left the listing, and those holding
    a commit with no login whose email's link moved (`identities.relinked_repos`: the one input
    of a repository's rows that other repositories' commits give)."""
    if existing is None:
        return None
    fields = [f.name for f in load.REPO_SCHEMA.fields]
    stored = {
        row["repo"]: tuple(row.get(f) for f in fields)
        for row in run.job.lake.reader.rows_where(GITHUB_REPOSITORIES, "org", run.org)
    }
    fresh = {row[1]: row for row in repo_rows}
    found = {repo for repo in fresh.keys() | stored.keys() if fresh.get(repo) != stored.get(repo)}
    if landed is not None:
        pairs = landed.select("repo", sf.lower(sf.col("author_email")).alias("email")).distinct().collect()
        found |= {row["repo"] for row in pairs}
        emails = {row["email"] for row in pairs if row["email"]}
        found |= identities.relinked_repos(existing, silver, emails, run.identity_map)
    log.info("gold: %d of %d repositories may have moved", len(found), run.report.repos)
    return found


def _merge_beside_gold(
    run: OrgRun, repo_rows: list[tuple[Any, ...]], held: Held, *, scope: str | None
) -> tuple[dict[Table, DataFrame], dict[Table, set[str] | None]]:
    """MERGE the landed commits into github/commits while the gold rows are computed and audited
    from what the MERGE will leave: its planning, tasks and commit then overlap theirs instead of
    adding up. The MERGE is in before this returns, so before any gold row is published. Returns
    the gold rows to write, and which repositories' (None: all).

    In REPOS_SCOPE only the rows of the repositories that may move are computed
    (`_gold_candidates`): a daily run's work follows its changes, not the org's history."""
    landed = _landed_commits(run, held)
    existing: DataFrame | None = None
    silver: DataFrame | None = None
    if scope is not None:
        spark, commits_path = run.job.session(), run.job.lake.path(GITHUB_COMMITS)
        existing = None if run.options.full_refresh else load.read_org(spark, commits_path, run.org)
        silver = load.after_merge(existing, landed, spark, GITHUB_COMMITS.key)

    def gold() -> tuple[dict[Table, DataFrame], dict[Table, set[str] | None]]:
        if silver is None:
            return {}, {}
        only = _gold_candidates(run, repo_rows, existing, landed, silver) if scope == REPOS_SCOPE else None
        if only is not None and not only:
            return {}, {}
        rows, audit = _compute_gold(run, silver, repo_rows, held, only=only)
        audit(only)  # the other repositories' rows are not written: they passed when they were
        return rows, dict.fromkeys(rows, only)

    if landed is None:
        return gold()
    merging = run.job.beside("merge", partial(_merge, run, landed))
    with run.job.joined(merging):
        found = gold()
        merging.result()
    return found


def _landed_commits(run: OrgRun, held: Held) -> DataFrame | None:
    """The commits the crawl landed (none, empty, after a full refresh), the table upgraded to take them."""
    landed = None
    if run.pending.names("items", ".jsonl"):
        landed = held.keep(load.read_landed_commits(run.job.session(), run.pending.spark_path("items")))
    elif run.options.full_refresh:
        landed = local_frame(run.job.session(), [], load.COMMIT_SCHEMA)
    if landed is not None:
        load.upgrade_commits(run.job.session(), run.job.lake.path(GITHUB_COMMITS))
    return landed


def _merge(run: OrgRun, landed: DataFrame) -> None:
    commits_path = run.job.lake.path(GITHUB_COMMITS)
    replace = run.options.full_refresh
    load.merge_commits(run.job.session(), commits_path, landed, run.org, replace=replace)


def _compute_gold(
    run: OrgRun, silver: DataFrame, repo_rows: list[tuple[Any, ...]], held: Held, *, only: set[str] | None
) -> tuple[dict[Table, DataFrame], Callable[[set[str] | None], None]]:
    """Transform the history of the org (`only`: of these repositories, with the org's email
    links): the three gold tables' rows, not yet written (the frames they are computed from kept
    in `held`, released once written), and their audit, which the caller runs on the repositories
    it will write (None: all) before anything is written. Each repository's rows are stamped by
    the run that wrote them (`computed_at`).
    """
    spark, settings, run_date = run.job.session(), run.settings, run.run_date
    repos = local_frame(spark, [r for r in repo_rows if only is None or r[1] in only], load.REPO_SCHEMA)
    history = silver if only is None else silver.where(sf.col("repo").isin(sorted(only)))
    # Kept: the series, the gates and the additions each scan the whole history.
    commits = history.join(repos.where(sf.col("status") == REPO_OK).select("org", "repo"), ["org", "repo"])
    commits = held.keep(commits)
    series, totals = transform.new_contributors(commits, repos, run_date)
    series = held.keep(gates.plant(settings.quality_fault, series))

    def audit(written: set[str] | None) -> None:
        """Write-audit-publish: nothing is written unless the rows written pass the gates."""

        def scoped(frame: DataFrame) -> DataFrame:
            return frame if written is None else frame.where(sf.col("repo").isin(sorted(written)))

        with run.job.stage("audit"):
            gates.audit(scoped(series), scoped(repos), scoped(commits), run_date)

    prepared = identities.prepare(
        commits,
        bot_logins=settings.github_bot_logins_set,
        identity_map=identities.map_frame(spark, run.identity_map),
        links=None if only is None else identities.email_links(silver),
    )
    prepared = held.keep(prepared)
    kinds, people = identities.additions(prepared, repos, series, run_date)
    columns = ("org", "repo", "created_at", "pushed_at", "total_contributors", "status", "fork", "archived")
    rows = {
        GITHUB_CONTRIBUTORS: people,
        GITHUB_NEW_CONTRIBUTORS: kinds,
        GITHUB_REPOSITORIES: totals.select(*columns),
    }
    return rows, audit


# --- publish --------------------------------------------------------------------------------------


def _publish(
    run: OrgRun, rows: dict[Table, DataFrame], targets: dict[Table, set[str] | None], now: datetime
) -> None:
    """Replace the org's rows of each table, or only those of the repositories in its target
    (gold ones stamped with the run's `computed_at`).

    Independent Delta tables, written at once: each write's planning and commit then overlap the
    others' tasks instead of adding up (the stage `gold` is its slowest table). `crawl_state` may
    land before a gold table whose write then fails: the landed commits stay pending, so the next
    run merges them and rewrites gold.
    """
    if GITHUB_NEW_CONTRIBUTORS in rows:
        add_missing_columns(
            run.job.session(),
            run.job.lake.path(GITHUB_NEW_CONTRIBUTORS),
            rows[GITHUB_NEW_CONTRIBUTORS].schema,
        )
    stamp = sf.lit(now).cast("timestamp").alias("computed_at")
    gold = {
        f"write {table.path}": partial(_write_rows, run, table, frame.select("*", stamp), targets[table])
        for table, frame in rows.items()
        if table != GITHUB_CRAWL_STATE
    }
    stages: dict[str, Any] = {}
    if gold:
        stages["gold"] = partial(run.job.side_by_side, gold)
    if GITHUB_CRAWL_STATE in rows:
        state = rows[GITHUB_CRAWL_STATE]
        stages["crawl_state"] = partial(
            _write_rows, run, GITHUB_CRAWL_STATE, state, targets[GITHUB_CRAWL_STATE]
        )
    run.job.side_by_side(stages)


def _write_rows(run: OrgRun, table: Table, frame: DataFrame, repos: set[str] | None) -> None:
    path = run.job.lake.path(table)
    if repos is None:
        load.write_org(frame, path, run.org)
    else:
        load.write_repos(frame, path, run.org, repos)


def _finish(run: OrgRun) -> RunReport:
    """The report with the run's stage times and Spark's start-up, logged as the summary line."""
    report = run.report
    report.stages = run.job.stages
    report.spark_started = run.job.spark_started
    report.spark_startup_seconds = run.job.spark.startup_seconds
    log.info("%s", report.line())
    return report
