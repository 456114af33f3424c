"""Ready-to-serve views of the gold tables, one module per resource (as `api/routes/`).

Each view is built from pyarrow tables (whatever delta-rs read) by plain Python over small row
lists, and every answer that can be is encoded once per version with orjson, so a request is a dict
lookup plus, for a `from`/`to` window, a bisect and one orjson call.
"""

from __future__ import annotations

from typing import Any

from api.tables import Dataset
from api.views.datagouv import DATAGOUV_HINT, build_changes, build_datagouv
from api.views.github import build_contributors, build_github, job_command
from api.views.runs import build_runs
from api.views.wikipedia import WIKI_HINT, build_wiki, build_wiki_top
from common.tables import (
    DATAGOUV_CHANGE_RUNS,
    DATAGOUV_CHANGES,
    DATAGOUV_TOPS,
    GITHUB_CONTRIBUTORS,
    GITHUB_NEW_CONTRIBUTORS,
    GITHUB_REPOSITORIES,
    OPS_RUNS,
    WIKI_DAILY_SUMMARY,
    WIKI_TOP_ARTICLES,
    WIKI_TOP_CATEGORIES,
)


def datasets(github_org: str | None) -> list[Dataset[Any]]:
    """Every dataset the API serves: the contract's three in the order the dashboard shows them,
    then the additions (each its own dataset, so a lake whose jobs ran before their tables existed
    still serves every other answer), then the run ledger."""
    github_hint = job_command(github_org)
    github_tables = (GITHUB_REPOSITORIES, GITHUB_NEW_CONTRIBUTORS)
    return [
        Dataset(
            "github",
            github_tables,
            lambda data: build_github(data, github_org),
            github_hint,
            partial=(GITHUB_NEW_CONTRIBUTORS,),
        ),
        Dataset("wikipedia", (WIKI_DAILY_SUMMARY, WIKI_TOP_CATEGORIES), build_wiki, WIKI_HINT),
        Dataset("datagouv", (DATAGOUV_TOPS,), build_datagouv, DATAGOUV_HINT),
        Dataset("github_contributors", (GITHUB_CONTRIBUTORS,), build_contributors, github_hint),
        Dataset("datagouv_changes", (DATAGOUV_CHANGE_RUNS, DATAGOUV_CHANGES), build_changes, DATAGOUV_HINT),
        Dataset("wikipedia_top", (WIKI_TOP_ARTICLES,), build_wiki_top, WIKI_HINT),
        Dataset("runs", (OPS_RUNS,), build_runs, "any job", optional=True),
    ]
