"""chispa tests of every GitHub transform: identity, first contribution, clamping, zero-fill, totals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from jobs.github_contributors import transform

pytestmark = pytest.mark.unit

IDENTITY_IN = StructType(
    [
        StructField("org", StringType(), False),
        StructField("repo", StringType(), False),
        StructField("author_login", StringType(), True),
        StructField("author_email", StringType(), True),
        StructField("author_name", StringType(), True),
        StructField("author_date", TimestampType(), True),
    ]
)
REPOS = StructType(
    [
        StructField("org", StringType(), False),
        StructField("repo", StringType(), False),
        StructField("created_at", TimestampType(), False),
    ]
)


def ts(text: str) -> datetime:
    """An aware UTC instant: a naive one would be read in the machine's zone by createDataFrame."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_identity_prefers_login_then_email_then_name(spark: Any) -> None:
    rows = [
        ("o", "r", "OctoCat", "x@y.z", "Octo", ts("2020-01-01 00:00:00")),
        ("o", "r", None, "Dev@Corp.COM", "Dev", ts("2020-01-01 00:00:00")),
        ("o", "r", None, "", "Only Name", ts("2020-01-01 00:00:00")),
        ("o", "r", None, None, "No Email", ts("2020-01-01 00:00:00")),
        ("o", "r", None, None, None, ts("2020-01-01 00:00:00")),
    ]
    df = spark.createDataFrame(rows, IDENTITY_IN)
    out = transform.with_contributor(df).select("contributor")
    expected = spark.createDataFrame(
        [("octocat",), ("dev@corp.com",), ("Only Name",), ("No Email",), (None,)],
        StructType([StructField("contributor", StringType(), True)]),
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_first_contribution_is_earliest_author_date_per_repo(spark: Any) -> None:
    schema = StructType([*IDENTITY_IN.fields, StructField("contributor", StringType(), True)])
    rows = [
        ("o", "r", "a", None, None, ts("2021-05-02 10:00:00"), "a"),
        ("o", "r", "a", None, None, ts("2021-03-01 23:59:59"), "a"),
        ("o", "s", "a", None, None, ts("2022-01-01 00:00:00"), "a"),
        ("o", "r", None, "b@x", None, None, "b@x"),  # no date: ignored
        ("o", "r", None, None, None, ts("2021-01-01 00:00:00"), None),  # no identity: ignored
    ]
    out = transform.first_contributions(spark.createDataFrame(rows, schema))
    expected = spark.createDataFrame(
        [("o", "r", "a", ts("2021-03-01 23:59:59")), ("o", "s", "a", ts("2022-01-01 00:00:00"))],
        StructType(
            [
                StructField("org", StringType(), False),
                StructField("repo", StringType(), False),
                StructField("contributor", StringType(), True),
                StructField("first_at", TimestampType(), True),
            ]
        ),
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_clamp_to_creation_month_and_run_month(spark: Any) -> None:
    firsts_schema = StructType(
        [
            StructField("org", StringType(), False),
            StructField("repo", StringType(), False),
            StructField("contributor", StringType(), True),
            StructField("first_at", TimestampType(), True),
        ]
    )
    firsts = spark.createDataFrame(
        [
            ("o", "r", "early", ts("2019-06-30 23:00:00")),  # before creation -> creation month
            ("o", "r", "inside", ts("2020-03-31 23:59:59")),
            ("o", "r", "late", ts("2021-02-01 00:00:00")),  # after run month -> run month
        ],
        firsts_schema,
    )
    repos = spark.createDataFrame([("o", "r", ts("2020-01-15 08:00:00"))], REPOS)
    out = transform.clamp_first_months("2021-01")(firsts, repos)
    expected = spark.createDataFrame(
        [("o", "r", "early", "2020-01"), ("o", "r", "inside", "2020-03"), ("o", "r", "late", "2021-01")],
        StructType(
            [
                StructField("org", StringType(), False),
                StructField("repo", StringType(), False),
                StructField("contributor", StringType(), True),
                StructField("month", StringType(), True),
            ]
        ),
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


SERIES = StructType(
    [
        StructField("org", StringType(), False),
        StructField("repo", StringType(), False),
        StructField("month", StringType(), True),
        StructField("new_contributors", LongType(), True),
        StructField("total_contributors", LongType(), True),
    ]
)


def test_series_zero_filled_with_running_total(spark: Any) -> None:
    months_schema = StructType(
        [
            StructField("org", StringType(), False),
            StructField("repo", StringType(), False),
            StructField("contributor", StringType(), True),
            StructField("month", StringType(), True),
        ]
    )
    firsts = spark.createDataFrame(
        [("o", "r", "a", "2020-11"), ("o", "r", "b", "2021-01"), ("o", "r", "c", "2021-01")], months_schema
    )
    repos = spark.createDataFrame(
        [
            ("o", "r", ts("2020-11-30 23:00:00")),
            ("o", "empty", ts("2021-01-01 00:00:00")),
            ("o", "future", ts("2021-05-01 00:00:00")),  # created after the run month: no rows
        ],
        REPOS,
    )
    out = transform.monthly_series("2021-02")(firsts, repos)
    expected = spark.createDataFrame(
        [
            ("o", "r", "2020-11", 1, 1),
            ("o", "r", "2020-12", 0, 1),
            ("o", "r", "2021-01", 2, 3),
            ("o", "r", "2021-02", 0, 3),
            ("o", "empty", "2021-01", 0, 0),
            ("o", "empty", "2021-02", 0, 0),
        ],
        SERIES,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_repository_totals_default_to_zero(spark: Any) -> None:
    series = spark.createDataFrame([("o", "r", "2021-01", 2, 2), ("o", "r", "2021-02", 1, 3)], SERIES)
    repos = spark.createDataFrame(
        [("o", "r", ts("2021-01-01 00:00:00")), ("o", "future", ts("2030-01-01 00:00:00"))], REPOS
    )
    out = transform.repository_totals(series, repos)
    expected = spark.createDataFrame(
        [("o", "r", ts("2021-01-01 00:00:00"), 3), ("o", "future", ts("2030-01-01 00:00:00"), 0)],
        StructType([*REPOS.fields, StructField("total_contributors", LongType(), True)]),
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_new_contributors_end_to_end_on_small_frame(spark: Any) -> None:
    commits = spark.createDataFrame(
        [
            ("o", "r", "Alice", None, "A", ts("2021-01-05 00:00:00")),
            ("o", "r", "alice", None, "A", ts("2020-12-31 23:59:59")),  # same person, earlier, UTC month
            ("o", "r", None, "BOB@X.ORG", "Bob", ts("2021-02-10 00:00:00")),
            ("o", "r", None, "bob@x.org", "Bob", ts("2021-03-01 00:00:00")),
        ],
        IDENTITY_IN,
    )
    repos = spark.createDataFrame([("o", "r", ts("2020-12-01 00:00:00"))], REPOS)
    series, _ = transform.new_contributors(commits, repos, date(2021, 3, 31))
    expected = spark.createDataFrame(
        [
            ("o", "r", "2020-12", 1, 1),
            ("o", "r", "2021-01", 0, 1),
            ("o", "r", "2021-02", 1, 2),
            ("o", "r", "2021-03", 0, 2),
        ],
        SERIES,
    )
    assert_df_equality(series, expected, ignore_row_order=True, ignore_nullable=True)
