"""The lake's tables: where each lives under LAKE_ROOT and which job owns it.

Jobs write these with Spark; the API reads the gold ones with delta-rs. Keeping the names in one
place is what lets the two sides agree without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Table:
    path: str  # relative to LAKE_ROOT
    owner: str  # the job that writes it
    key: tuple[str, ...]
    partition_by: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The last segment of its path (`wikimedia/articles` -> `articles`): stage names use it."""
        return self.path.rsplit("/", 1)[-1]


# --- GitHub (jobs.github_contributors) ---
GITHUB_REPOSITORIES = Table("github/repositories", "github_contributors", ("org", "repo"))
GITHUB_COMMITS = Table("github/commits", "github_contributors", ("org", "repo", "sha"), ("org",))
GITHUB_CRAWL_STATE = Table("github/crawl_state", "github_contributors", ("org", "repo"))
# Gold: org, repo, month ("YYYY-MM"), new_contributors (long), total_contributors (long), and the
# additions new_humans, new_bots, new_humans_merged (long; see jobs.github_contributors.identities).
GITHUB_NEW_CONTRIBUTORS = Table(
    "github/new_contributors_monthly", "github_contributors", ("org", "repo", "month")
)
# Gold: org, repo, identity, kind ("human" | "bot"), first_commit_at (timestamp), commits (long),
# merged_identity, computed_at.
GITHUB_CONTRIBUTORS = Table("github/contributors", "github_contributors", ("org", "repo", "identity"))

# Repository statuses: the one vocabulary of the job (crawl state and gold rows), the API and the
# test fixtures. `github/repositories` holds REPO_OK and REPO_EMPTY rows only: a repository that
# answered 404 is left out of the gold tables and kept as REPO_GONE in `github/crawl_state`.
REPO_OK = "ok"
REPO_EMPTY = "empty"  # the commits endpoint answered 409: an all-zero series
REPO_GONE = "gone"  # answered 404 (deleted or made private)
GOLD_REPO_STATUSES = (REPO_OK, REPO_EMPTY)

# --- Wikimedia (jobs.wikimedia_pageviews) ---
WIKI_PAGEVIEWS_DAILY = Table(
    "wikimedia/pageviews_daily", "wikimedia_pageviews", ("wiki", "day", "title"), ("day",)
)
WIKI_ARTICLES = Table("wikimedia/articles", "wikimedia_pageviews", ("wiki", "page_id"))
WIKI_REDIRECTS = Table("wikimedia/redirects", "wikimedia_pageviews", ("wiki", "page_id"))
WIKI_CATEGORY_MEMBERS = Table(
    "wikimedia/category_members", "wikimedia_pageviews", ("wiki", "page_id", "category")
)
# Gold: day (date), wiki, hours, complete, most_title, most_views, least_title, least_views, least_ties,
# and the addition most_unflagged_title, most_unflagged_views (best-ranked top article without a flag).
WIKI_DAILY_SUMMARY = Table("wikimedia/daily_summary", "wikimedia_pageviews", ("wiki", "day"))
# Gold: wiki, day (date), rank (int, 1..100), title, views (long), mobile_share, peak_hour_share,
# views_vs_previous (doubles, nullable), flags (array of "peak_hour" / "mobile_share" / "spike"),
# suspicious (bool): the day's top articles and their traffic signals (jobs.wikimedia_pageviews.traffic).
WIKI_TOP_ARTICLES = Table("wikimedia/daily_top_articles", "wikimedia_pageviews", ("wiki", "day", "rank"))
# Gold: day (date), wiki, rank (int), category, views (long), articles (long).
WIKI_TOP_CATEGORIES = Table("wikimedia/daily_top_categories", "wikimedia_pageviews", ("wiki", "day", "rank"))

# --- data.gouv.fr (jobs.datagouv_catalog) ---
# Gold: run_date ("YYYY-MM-DD"), dataset_id, title, dataset_followers (long), organization,
# organization_id, organization_followers (long).
DATAGOUV_TOPS = Table("datagouv/tops", "datagouv_catalog", ("run_date", "dataset_id"), ("run_date",))
# Gold: run_date, dataset_id, title, organization_id, organization, followers (long), matched
# (array of "title" / "description" / "tags"): each run's whole matching set.
DATAGOUV_MATCHES = Table("datagouv/matches", "datagouv_catalog", ("run_date", "dataset_id"), ("run_date",))
# Gold: run_date, previous_run_date (null on the first), dataset_id, change ("added" | "removed" |
# "changed"), fields (array of "title" / "organization" / "followers"), from every run date's matches.
DATAGOUV_CHANGES = Table("datagouv/changes", "datagouv_catalog", ("run_date", "dataset_id"))
# Gold: run_date, previous_run_date, matching, added, removed, changed (longs): one row per run date.
DATAGOUV_CHANGE_RUNS = Table("datagouv/change_runs", "datagouv_catalog", ("run_date",))
# The six fields of a top dataset, as the contract names them (Mongo documents and the API).
DATAGOUV_TOP_FIELDS = (
    "dataset_id",
    "title",
    "dataset_followers",
    "organization",
    "organization_id",
    "organization_followers",
)

# --- Operations (common.ledger, written by every job's entry point) ---
# One row per state of a run (see common.ledger): run_id, job, status, recorded_at, started_at,
# finished_at, duration_seconds, version, mode, host, pid, process_start, and the JSON texts args,
# settings, stages, inputs, outputs; error. Written with delta-rs.
OPS_RUNS = Table("ops/runs", "common.ledger", ("run_id", "recorded_at"))
