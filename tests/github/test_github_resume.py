"""Resume planning, the run report and the rows of the state tables: plain data, no Spark."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from common.errors import SourceError
from common.tables import REPO_EMPTY, REPO_GONE, REPO_OK
from common.timing import Stages
from jobs.github_contributors import load, resume
from jobs.github_contributors.crawl import UNCHANGED
from jobs.github_contributors.report import RunReport, add_up, repository_statuses, stored_statuses

pytestmark = pytest.mark.unit

ORG = "acme"
LISTING: list[dict[str, Any]] = [
    {"name": "small", "created_at": "2020-01-01T00:00:00Z", "pushed_at": "2024-01-02T03:04:05Z"},
    {"name": "big", "created_at": "2015-06-30T23:30:00Z", "pushed_at": None, "fork": True},
    {"name": "left", "created_at": "2019-01-01T00:00:00Z"},
]
STATE: dict[str, dict[str, Any]] = {
    "small": {"status": REPO_OK, "etag": '"e1"', "newest_sha": "s1"},
    "big": {"status": REPO_EMPTY, "etag": '"e2"', "newest_sha": None},
}


def window(repo: str, n: int) -> dict[str, Any]:
    return {"id": f"{repo}-w{n}", "kind": "window", "repo": repo}


def test_heads_are_conditional_only_for_repositories_read_last_time() -> None:
    heads = {h["repo"]: h for h in resume.head_items(ORG, LISTING, STATE)}
    assert heads["small"]["known_sha"] == "s1" and heads["small"]["etag"] == '"e1"'
    assert heads["big"]["known_sha"] is None  # an empty repository is read in full when it fills
    assert heads["left"]["etag"] is None and heads["left"]["known_sha"] is None
    assert len({h["id"] for h in heads.values()}) == 3


def test_a_head_with_more_pages_opens_an_item_for_the_partitions() -> None:
    _, big, _ = resume.head_items(ORG, LISTING, STATE)
    grown = {"id": big["id"], "repo": "big", "complete": False, "estimate": 12.0}
    assert resume.open_item(grown) == {"kind": "open", "id": big["id"], "head": grown, "cost": 12.0}


def test_plan_runs_only_what_did_not_land() -> None:
    small, big, left = resume.head_items(ORG, LISTING, {})
    landed = {
        small["id"]: {"id": small["id"], "repo": "small", "complete": True},
        big["id"]: {"id": big["id"], "repo": "big", "complete": False, "estimate": 40.0},
        left["id"]: {"id": left["id"], "repo": "left", "complete": False, "estimate": 9.0},
        "big-w1": window("big", 1),
    }
    plans = {big["id"]: [window("big", 1), window("big", 2)]}
    todo = resume.plan([small, big, left], landed, plans.get)
    # big: only its window that did not land; left: landed without a plan, so planned again.
    assert [i["id"] for i in todo.items] == ["big-w2", left["id"]]
    assert todo.items[1]["kind"] == "open" and todo.items[1]["cost"] == 9.0
    assert todo.plans == {big["id"]: plans[big["id"]]}
    assert resume.plan([small], {}, plans.get).items == [small]


def test_collect_needs_every_window_and_counts_split_repositories() -> None:
    small, big = resume.head_items(ORG, LISTING[:2], {})
    landed = {
        small["id"]: {"id": small["id"], "repo": "small", "complete": True, "status": REPO_OK},
        big["id"]: {"id": big["id"], "repo": "big", "complete": False, "status": REPO_OK},
        "big-w1": {**window("big", 1), "status": REPO_OK},
    }
    plans = {big["id"]: [window("big", 1), window("big", 2)]}
    with pytest.raises(SourceError, match="acme/big incomplete \\(1 windows\\)"):
        resume.collect(ORG, [small, big], landed, plans, plans.get)
    landed["big-w2"] = {**window("big", 2), "status": REPO_GONE}
    crawled = resume.collect(ORG, [small, big], landed, {}, plans.get)  # the plan read from the store
    assert [m["id"] for m in crawled.items] == [small["id"], big["id"], "big-w1", "big-w2"]
    assert crawled.split_repos == 1
    with pytest.raises(SourceError, match="acme/small incomplete"):
        resume.collect(ORG, [small], {}, {}, plans.get)


def test_report_adds_up_items_and_driver_once() -> None:
    heads = [
        {"repo": "a", "status": REPO_OK, "commits": 5, "stats": {"requests": 3, "retries": 1}},
        {"repo": "b", "status": UNCHANGED, "commits": 0, "stats": {"requests": 1, "not_modified": 1}},
        {"repo": "c", "status": REPO_OK, "commits": 2, "stats": {"requests": 1}},
        {"repo": "d", "status": REPO_EMPTY, "commits": 0, "stats": {"requests": 1}},
    ]
    windows = [
        {"repo": "c", "status": REPO_GONE, "commits": 1, "stats": {"requests": 2, "rate_limit_waits": 1}}
    ]
    crawled = resume.Crawled(heads, windows, split_repos=1)
    statuses = repository_statuses(crawled)
    assert statuses == {"a": REPO_OK, "b": UNCHANGED, "c": REPO_GONE, "d": REPO_EMPTY}
    report = RunReport(ORG)
    report.count(crawled, statuses, {"requests": 4, "not_modified": 1, "rate_limit_wait_seconds": 2.5})
    assert (report.requests, report.not_modified, report.retries) == (12, 2, 1)
    assert (report.rate_limit_waits, report.rate_limit_wait_seconds) == (1, 2.5)
    assert (report.items, report.windows, report.new_commits) == (5, 1, 8)
    assert report.gone == ["c"]
    assert report.statuses == {REPO_OK: 1, UNCHANGED: 1, REPO_GONE: 1, REPO_EMPTY: 1}
    assert stored_statuses(statuses)["b"] == REPO_OK
    assert "requests 12, 304s 2" in report.line()
    assert add_up([{"x": 1}, {"x": 2, "y": 1.5}]) == {"x": 3, "y": 1.5}


def test_report_times_stages() -> None:
    report, stages = RunReport(ORG), Stages()  # the run's stages, as its JobRun times them
    with stages.stage("list"):
        pass
    with pytest.raises(RuntimeError), stages.stage("crawl"):
        raise RuntimeError
    report.stages = stages.as_dict()
    assert set(report.stages) == {"list", "crawl"}
    assert report.write_seconds == 0.0 and report.list_seconds >= 0.0


def test_rows_of_the_repositories_and_crawl_state_tables() -> None:
    statuses = {"small": REPO_OK, "big": REPO_EMPTY, "left": REPO_GONE}
    rows = load.repository_rows(ORG, LISTING, statuses)
    assert [r[1] for r in rows] == ["small", "big"]  # the repository that answered 404 is left out
    assert rows[0][2:5] == (
        datetime(2020, 1, 1, tzinfo=UTC),
        datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        REPO_OK,
    )
    assert rows[1][3:6] == (None, REPO_EMPTY, True)
    now = datetime(2024, 5, 1, tzinfo=UTC)
    heads = [
        {"repo": "small", "status": UNCHANGED},
        {"repo": "big", "status": REPO_OK, "etag": '"new"', "newest_sha": "n1"},
        {"repo": "left", "status": REPO_GONE},
    ]
    state = load.crawl_state_rows(ORG, heads, statuses, STATE, now)
    assert [r[1:5] for r in state] == [
        ("small", REPO_OK, '"e1"', "s1"),  # 304: what the last run stored
        ("big", REPO_EMPTY, '"new"', "n1"),
        ("left", REPO_GONE, None, None),
    ]
