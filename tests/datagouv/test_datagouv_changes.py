"""chispa tests of the catalogue's change transforms: the matches rows and the week-over-week diff."""

from __future__ import annotations

from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame

from jobs.datagouv_catalog import changes

pytestmark = pytest.mark.unit

MATCHES = (
    "run_date string, dataset_id string, title string, organization_id string, organization string, "
    "followers long, matched array<string>"
)
CHANGES = (
    "run_date string, previous_run_date string, dataset_id string, change string, fields array<string>, "
    "title string"
)


def m(
    run_date: str, dataset_id: str, title: str = "Transport", org: str = "SNCF", followers: int = 1
) -> tuple[Any, ...]:
    return (run_date, dataset_id, title, f"id-{org}", org, followers, ["title"])


def diff(spark: Any, rows: list[tuple[Any, ...]], empty_runs: list[str] | None = None) -> DataFrame:
    matches = spark.createDataFrame(rows, MATCHES)
    runs = spark.createDataFrame([(d,) for d in empty_runs], "run_date string") if empty_runs else None
    out = changes.changes(matches, changes.run_dates(matches, runs))
    return out.orderBy("run_date", "change", "dataset_id")


def test_matches_rows_name_the_fields_that_matched(spark: Any) -> None:
    datasets = spark.createDataFrame(
        [
            ("d1", "Mobilité douce", "rien", "", "o1", "12"),
            ("d2", "Budget", "Plan de TRANSPORTS", "transport,bus", "o2", ""),
            ("d3", "Vélo", None, "mobilite", "o-unknown", "3.0"),
            (None, "Transport", None, None, "o1", "1"),
        ],
        "id string, title string, description string, tags string, organization_id string, "
        "`metric.followers` string",
    )
    orgs = spark.createDataFrame(
        [("o1", "SNCF"), ("o2", "RATP"), ("o2", "RATP (dup)")], "id string, name string"
    )
    out = changes.matches(datasets, orgs, "2024-05-08").orderBy("dataset_id")
    expected = spark.createDataFrame(
        [
            ("2024-05-08", "d1", "Mobilité douce", "o1", "SNCF", 12, ["title"]),
            ("2024-05-08", "d2", "Budget", "o2", "RATP", 0, ["description", "tags"]),
            ("2024-05-08", "d3", "Vélo", "o-unknown", None, 3, ["tags"]),
        ],
        MATCHES,
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_first_run_date_adds_everything(spark: Any) -> None:
    out = diff(spark, [m("2024-05-01", "d1"), m("2024-05-01", "d2")])
    expected = spark.createDataFrame(
        [
            ("2024-05-01", None, "d1", "added", [], "Transport"),
            ("2024-05-01", None, "d2", "added", [], "Transport"),
        ],
        CHANGES,
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_added_removed_changed_against_the_previous_run_date_only(spark: Any) -> None:
    rows = [
        m("2024-05-01", "keep"),
        m("2024-05-01", "gone"),
        m("2024-05-01", "retitled"),
        m("2024-05-01", "moved"),
        m("2024-05-01", "followed"),
        m("2024-05-01", "back"),
        m("2024-05-08", "keep"),
        m("2024-05-08", "retitled", title="Transports"),
        m("2024-05-08", "moved", org="RATP", followers=2),
        m("2024-05-08", "followed", followers=9),
        m("2024-05-08", "new"),
        m("2024-05-15", "keep"),
        m("2024-05-15", "back"),  # absent on 05-08: added again, compared with 05-08 only
    ]
    out = diff(spark, rows).where("run_date > '2024-05-01'")
    expected = spark.createDataFrame(
        [
            ("2024-05-08", "2024-05-01", "new", "added", [], "Transport"),
            ("2024-05-08", "2024-05-01", "followed", "changed", ["followers"], "Transport"),
            ("2024-05-08", "2024-05-01", "moved", "changed", ["organization", "followers"], "Transport"),
            ("2024-05-08", "2024-05-01", "retitled", "changed", ["title"], "Transports"),
            ("2024-05-08", "2024-05-01", "back", "removed", [], "Transport"),
            ("2024-05-08", "2024-05-01", "gone", "removed", [], "Transport"),
            ("2024-05-15", "2024-05-08", "back", "added", [], "Transport"),
            ("2024-05-15", "2024-05-08", "followed", "removed", [], "Transport"),
            ("2024-05-15", "2024-05-08", "moved", "removed", [], "Transport"),
            ("2024-05-15", "2024-05-08", "new", "removed", [], "Transport"),
            ("2024-05-15", "2024-05-08", "retitled", "removed", [], "Transports"),
        ],
        CHANGES,
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_a_run_date_with_no_match_still_counts_as_previous(spark: Any) -> None:
    out = diff(spark, [m("2024-05-01", "d1"), m("2024-05-15", "d1")], empty_runs=["2024-05-08"])
    expected = spark.createDataFrame(
        [
            ("2024-05-01", None, "d1", "added", [], "Transport"),
            ("2024-05-08", "2024-05-01", "d1", "removed", [], "Transport"),
            ("2024-05-15", "2024-05-08", "d1", "added", [], "Transport"),
        ],
        CHANGES,
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_run_summary_counts_every_run_date(spark: Any) -> None:
    matches = spark.createDataFrame(
        [m("2024-05-01", "d1"), m("2024-05-01", "d2"), m("2024-05-15", "d1")], MATCHES
    )
    dates = changes.run_dates(matches, spark.createDataFrame([("2024-05-08",)], "run_date string"))
    out = changes.run_summary(matches, dates, changes.changes(matches, dates)).orderBy("run_date")
    expected = spark.createDataFrame(
        [
            ("2024-05-01", None, 2, 2, 0, 0),
            ("2024-05-08", "2024-05-01", 0, 0, 2, 0),
            ("2024-05-15", "2024-05-08", 1, 1, 0, 0),
        ],
        "run_date string, previous_run_date string, matching long, added long, removed long, changed long",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_a_run_moves_its_own_changes_and_its_successors_only() -> None:
    known = ["2024-05-01", "2024-05-15", "2024-05-22"]
    assert changes.affected_run_dates([], "2024-05-08") == [("2024-05-08", None)]
    assert changes.affected_run_dates(known, "2024-05-29") == [("2024-05-29", "2024-05-22")]
    # An older run date slotted in between: the next run date's previous one becomes it.
    assert changes.affected_run_dates(known, "2024-05-08") == [
        ("2024-05-08", "2024-05-01"),
        ("2024-05-15", "2024-05-08"),
    ]
    # A rerun of a known run date: the same two.
    assert changes.affected_run_dates(known, "2024-05-15") == [
        ("2024-05-15", "2024-05-01"),
        ("2024-05-22", "2024-05-15"),
    ]


def test_incremental_changes_equal_the_whole_history_recomputed(spark: Any) -> None:
    rows = [
        m("2024-05-01", "d1"),
        m("2024-05-01", "d2"),
        m("2024-05-08", "d1", title="Transports"),
        m("2024-05-08", "d3"),
        m("2024-05-15", "d3", followers=7),
    ]
    whole = diff(spark, rows).where("run_date IN ('2024-05-08', '2024-05-15')")
    affected = changes.affected_run_dates(["2024-05-01", "2024-05-15"], "2024-05-08")
    dates = spark.createDataFrame(affected, "run_date string, previous_run_date string")
    part = changes.changes(spark.createDataFrame(rows, MATCHES), dates)
    assert_df_equality(part.orderBy("run_date", "change", "dataset_id"), whole, ignore_nullable=True)
