"""The quality gates as pure functions over small DataFrames: each passes clean rows and names the
offending keys of planted defects."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest
from chispa import assert_df_equality

from common.gates import GateError, Violation, enforce
from jobs.datagouv_catalog import gates as datagouv
from jobs.github_contributors import gates as github
from jobs.wikimedia_pageviews import gates as wiki

pytestmark = pytest.mark.unit
RUN = date(2024, 3, 15)
SERIES = "org string, repo string, month string, new_contributors long, total_contributors long"
REPOS = "org string, repo string, created_at timestamp"
COMMITS = (
    "org string, repo string, author_login string, author_email string, author_name string, "
    "author_date timestamp"
)


def _series(spark: Any, rows: list[tuple[str, str, int, int]]) -> Any:
    return spark.createDataFrame([("o", *r) for r in rows], SERIES)


def _good(spark: Any) -> tuple[Any, Any, Any]:
    series = _series(spark, [("a", "2024-01", 2, 2), ("a", "2024-02", 0, 2), ("a", "2024-03", 1, 3)])
    repos = spark.createDataFrame(
        [("o", "a", datetime(2024, 1, 9)), ("o", "late", datetime(2024, 6, 1))], REPOS
    )
    commits = spark.createDataFrame(
        [
            ("o", "a", "Ann", None, None, datetime(2024, 1, 2)),
            ("o", "a", "ann", None, None, datetime(2024, 2, 2)),  # same person, lower-cased
            ("o", "a", None, "b@x.org", "B", datetime(2024, 1, 3)),
            ("o", "a", None, "", "Cy", datetime(2024, 3, 3)),
        ],
        COMMITS,
    )
    return series, repos, commits


def test_github_gates_pass_a_clean_series(spark: Any) -> None:
    series, repos, commits = _good(spark)
    github.audit(series, repos, commits, RUN)  # raises if any gate fails


def test_github_negative_and_running_total(spark: Any) -> None:
    bad = _series(spark, [("a", "2024-01", 2, 2), ("a", "2024-02", -1, 1), ("a", "2024-03", 1, 3)])
    assert github.non_negative_new(bad) == Violation("new_contributors >= 0", 1, ("o/a/2024-02",))
    found = github.running_total(bad)
    assert found is not None and found.sample == ("o/a/2024-03",)


def test_github_contiguous_names_gaps_and_wrong_ends(spark: Any) -> None:
    _, repos, _ = _good(spark)
    gap = _series(spark, [("a", "2024-01", 2, 2), ("a", "2024-03", 1, 3)])
    found = github.contiguous(gap, repos, RUN)
    assert found is not None and found.sample == ("o/a",)
    short = _series(spark, [("a", "2024-01", 2, 2), ("a", "2024-02", 1, 3)])  # stops before the run month
    assert github.contiguous(short, repos, RUN) is not None
    missing = _series(spark, [])
    assert github.contiguous(missing, repos, RUN) == Violation(
        "series contiguous from the creation month to 2024-03", 1, ("o/a",)
    )


def test_github_last_total_against_the_commits(spark: Any) -> None:
    _, _, commits = _good(spark)
    wrong = _series(spark, [("a", "2024-01", 2, 2), ("a", "2024-02", 0, 2), ("a", "2024-03", 2, 4)])
    found = github.last_total_is_distinct_contributors(wrong, commits)
    assert found is not None and found.sample == ("o/a",)


def test_github_fault_switch_plants_a_negative_month(spark: Any) -> None:
    series, _, _ = _good(spark)
    assert_df_equality(github.plant(None, series), series)
    planted = github.plant("github_contributors.negative_new", series)
    assert github.non_negative_new(planted) == Violation("new_contributors >= 0", 1, ("o/a/2024-01",))


SUMMARY = (
    "wiki string, day date, hours int, complete boolean, most_title string, most_views long, "
    "least_title string, least_views long, least_ties long"
)
TOP = "wiki string, day date, rank int, category string, views long, articles long"
MEMBERS = "title string, category string, hidden boolean"
D1, D2 = date(2024, 1, 1), date(2024, 1, 2)


def _wiki(spark: Any) -> tuple[Any, Any, Any]:
    summary = spark.createDataFrame(
        [
            ("enwiki", D1, 24, True, "A", 90, "Z", 1, 3),
            ("enwiki", D2, 23, False, None, None, None, None, None),
        ],
        SUMMARY,
    )
    top = spark.createDataFrame(
        [
            ("enwiki", D1, 1, "Cats", 50, 2),
            ("enwiki", D1, 2, "Dogs", 50, 1),
            ("enwiki", D1, 3, "Birds", 7, 1),
        ],
        TOP,
    )
    members = spark.createDataFrame(
        [("A", "Cats", False), ("B", "Dogs", False), ("C", "Birds", False), ("A", "Hidden_stubs", True)],
        MEMBERS,
    )
    return summary, top, members


def test_wiki_gates_pass_clean_rows(spark: Any) -> None:
    wiki.audit(*_wiki(spark))


def test_wiki_gates_name_each_defect(spark: Any) -> None:
    summary, top, members = _wiki(spark)
    assert wiki.hours_in_range(wiki.plant("wikimedia_pageviews.hours_over_24", summary)) == Violation(
        "0 <= hours <= 24 and complete = (hours = 24)", 2, ("enwiki/2024-01-01", "enwiki/2024-01-02")
    )
    inverted = summary.withColumn("least_views", summary["most_views"] + 1)
    found = wiki.most_at_least_least(inverted)
    assert found is not None and found.sample == ("enwiki/2024-01-01",)
    zero = summary.withColumn("least_views", summary["least_views"] * 0)
    assert wiki.most_at_least_least(zero) is not None
    rising = spark.createDataFrame([("enwiki", D1, 1, "Cats", 5, 2), ("enwiki", D1, 2, "Dogs", 50, 1)], TOP)
    found = wiki.ranks_and_views(rising)
    assert found is not None and found.sample == ("enwiki/2024-01-01/2",)
    gap = spark.createDataFrame([("enwiki", D1, 1, "Cats", 50, 2), ("enwiki", D1, 3, "Dogs", 5, 1)], TOP)
    assert wiki.ranks_and_views(gap) is not None
    hidden = top.union(spark.createDataFrame([("enwiki", D1, 4, "Hidden_stubs", 6, 1)], TOP))
    assert wiki.no_hidden_category(hidden, members) == Violation(
        "no hidden category", 1, ("enwiki/2024-01-01/Hidden_stubs",)
    )


TOPS = (
    "run_date string, dataset_id string, title string, dataset_followers long, organization string, "
    "organization_id string, organization_followers long"
)


def _tops(spark: Any, orgs: int = 2) -> tuple[Any, Any]:
    tops = spark.createDataFrame(
        [("2024-05-08", f"d{i}", "t", i, f"Org {i}", f"o{i}", 100 - i) for i in range(orgs)], TOPS
    )
    matching = spark.createDataFrame([(f"d{i}",) for i in range(orgs + 3)], "id string")
    return tops, matching


def test_datagouv_gates_pass_clean_rows(spark: Any) -> None:
    datagouv.audit(*_tops(spark))
    datagouv.audit(*_tops(spark, orgs=30))


def test_datagouv_gates_name_each_defect(spark: Any) -> None:
    tops, matching = _tops(spark)
    planted = datagouv.plant("datagouv_catalog.unknown_dataset", tops)
    assert datagouv.datasets_in_export(planted, matching) == Violation(
        "every Mongo document's dataset is in the CSV", 1, ("planted-unknown-dataset",)
    )
    many, _ = _tops(spark, orgs=31)
    found = datagouv.at_most_top_n_organizations(many)
    assert found is not None and found.count == 31
    fractional = tops.withColumn("dataset_followers", tops["dataset_followers"] + 0.5)
    found = datagouv.integer_followers(fractional)
    assert found is not None and found.sample == ("d0", "d1")
    nulls = tops.withColumn("organization_followers", tops["organization_followers"] * None)
    assert datagouv.integer_followers(nulls) is not None


def test_enforce_raises_one_line_naming_the_gate() -> None:
    violation = Violation("integer followers", 7, ("d1", "d2", "d3", "d4", "d5"))
    with pytest.raises(GateError) as raised:
        enforce("datagouv_catalog", [None, violation])
    message = str(raised.value)
    assert "\n" not in message
    assert message == (
        "quality gate 'integer followers' failed: 7 offending (d1; d2; d3; d4; d5, ...); nothing published"
    )
