"""chispa tests of the suspicious-traffic transforms: top ranking, the top articles' rows, signals, flags."""

from __future__ import annotations

import gzip
import json
import random
from datetime import date
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F  # noqa: N812 - the usual alias

from jobs.wikimedia_pageviews import traffic, transform
from jobs.wikimedia_pageviews.extract import scan_pageviews, sum_hourly

pytestmark = pytest.mark.unit

D1, D2 = date(2026, 3, 2), date(2026, 3, 3)
VIEWS = "day date, title string, views long"
SUMS = "day date, article string, views long, mobile long, hours string"


def _sums(spark: Any, rows: list[tuple[Any, ...]]) -> Any:
    """`top_rows`' output from (day, article, hour, mobile, views) rows: one row each."""
    return spark.createDataFrame([(d, a, v, v if m else 0, f"{h}:{v}") for d, a, h, m, v in rows], SUMS)


def test_top_articles_rank_like_most_requested_and_cut_at_n(spark: Any) -> None:
    views = spark.createDataFrame(
        [(D1, "B", 10), (D1, "A", 10), (D1, "C", 5), (D1, "D", 1), (D2, "A", 3)], VIEWS
    )
    out = traffic.top_articles(views, n=3).orderBy("day", "rank")
    expected = spark.createDataFrame(
        [(D1, 1, "A", 10), (D1, 2, "B", 10), (D1, 3, "C", 5), (D2, 1, "A", 3)],
        "day date, rank int, title string, views long",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_top_rows_are_the_resolved_rows_of_the_days_top_articles(spark: Any) -> None:
    top = spark.createDataFrame([(D1, 1, "Cat", 30)], "day date, rank int, title string, views long")
    articles = spark.createDataFrame([("Cat",), ("Dog",)], "title string")
    redirects = spark.createDataFrame(
        [("Kitty", "Cat"), ("Dog_(animal)", "Dog")], "title string, target_title string"
    )
    sums = spark.createDataFrame(
        [
            (D1, "cat", 5, 0, "1:5"),  # normalised to Cat
            (D1, "Cat", 4, 4, "1:4"),
            (D1, "kitty", 6, 0, "2:6"),  # a redirect to Cat
            (D1, "Dog", 100, 0, "2:100"),  # not in the top
            (D1, None, 1, 0, None),  # the bad lines' count
            (D2, "Cat", 7, 0, "1:7"),  # Cat is not in D2's top
        ],
        "day date, title string, views long, mobile long, hours string",
    )
    resolved = transform.resolve_titles(sums, articles, redirects)
    out = traffic.top_rows(resolved, top).orderBy("hours")
    expected = spark.createDataFrame(
        [(D1, "Cat", 4, 4, "1:4"), (D1, "Cat", 5, 0, "1:5"), (D1, "Cat", 6, 0, "2:6")], SUMS
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_signals_and_flags_at_the_documented_thresholds(spark: Any) -> None:
    top = spark.createDataFrame(
        [(D2, 1, "Bot_target", 1000), (D2, 2, "Normal", 100), (D2, 3, "Mobile_only", 90), (D2, 4, "New", 50)],
        "day date, rank int, title string, views long",
    )
    hourly_rows = []
    # Bot_target: 600 of 1000 views in one hour, all desktop (mobile share 0).
    hourly_rows += [(D2, "Bot_target", "h05", False, 600)] + [
        (D2, "Bot_target", f"h{h + 10:02d}", False, 40) for h in range(10)
    ]
    # Normal: even over 10 hours, 60% mobile.
    hourly_rows += [(D2, "Normal", f"h{h:02d}", m, 6 if m else 4) for h in range(10) for m in (False, True)]
    # Mobile_only: 95% mobile, even: 0.35 from the median, under the 0.4 threshold.
    hourly_rows += [
        (D2, "Mobile_only", f"h{h:02d}", m, 19 if m else 1) for h in range(10) for m in (False, True)
    ]
    # New: 60% mobile, even; absent on D1.
    hourly_rows += [(D2, "New", f"h{h:02d}", m, 3 if m else 2) for h in range(10) for m in (False, True)]
    hourly = _sums(spark, hourly_rows)
    daily = spark.createDataFrame(
        [
            (D1, "Bot_target", 900),
            (D1, "Normal", 100),
            (D1, "Mobile_only", 90),
            *[(r[0], r[2], r[3]) for r in top.collect()],
        ],
        VIEWS,
    )
    out = {r["title"]: r for r in traffic.signals(top, hourly, daily, [D1, D2]).collect()}
    assert (out["Bot_target"]["peak_hour_share"], out["Bot_target"]["mobile_share"]) == (0.6, 0.0)
    assert out["Bot_target"]["flags"] == ["peak_hour", "mobile_share"]  # median 0.6: 0.6 away
    assert out["Normal"]["flags"] == [] and not out["Normal"]["suspicious"]
    assert out["Normal"]["views_vs_previous"] == 1.0
    assert out["Mobile_only"]["mobile_share"] == 0.95 and out["Mobile_only"]["flags"] == []
    assert out["New"]["views_vs_previous"] == 50.0 and out["New"]["flags"] == ["spike"]
    first_day = traffic.signals(
        top.where("rank = 2").withColumn("day", F.date_sub("day", 1)),
        hourly.limit(0),
        daily.where(f"day = '{D1}'"),
        [D1],
    ).first()
    assert first_day is not None
    assert (
        first_day["views_vs_previous"] is None
        and first_day["mobile_share"] is None
        and first_day["flags"] == []
    )


def test_peak_hour_needs_a_minimum_of_views(spark: Any) -> None:
    """60% of the day in one hour flags 1000 views, not 99 (a handful of readers at once)."""
    top = spark.createDataFrame(
        [(D1, 1, "Busy", 1000), (D1, 2, "Small", 99)], "day date, rank int, title string, views long"
    )
    hourly = _sums(
        spark,
        [
            (D1, "Busy", "h01", False, 600),
            (D1, "Busy", "h02", False, 400),
            (D1, "Small", "h01", False, 60),
            (D1, "Small", "h02", False, 39),
        ],
    )
    daily = top.select("day", "title", "views")
    out = {r["title"]: r for r in traffic.signals(top, hourly, daily, [D1]).collect()}
    assert out["Busy"]["peak_hour_share"] == 0.6 and out["Busy"]["flags"] == ["peak_hour"]
    assert out["Small"]["peak_hour_share"] == round(60 / 99, 4) and out["Small"]["flags"] == []


def test_most_unflagged_is_the_best_ranked_clean_article(spark: Any) -> None:
    flagged = spark.createDataFrame(
        [(D1, 1, "A", 9, True), (D1, 2, "B", 8, False), (D1, 3, "C", 7, False), (D2, 1, "A", 9, True)],
        "day date, rank int, title string, views long, suspicious boolean",
    )
    out = traffic.most_unflagged(flagged)
    expected = spark.createDataFrame(
        [(D1, "B", 8)], "day date, most_unflagged_title string, most_unflagged_views long"
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def test_sum_hourly_is_one_row_per_title_with_its_mobile_and_per_file_views(
    spark: Any, tmp_path: Any
) -> None:
    """The `pageviews` source's `sums` mode: per raw title (no normalisation), views of both
    codes, those of the mobile one, and each file's under its hour of the day; other wikis are
    not rows, bad lines are one null-title row with their count."""
    lines = {
        "010000": [
            "en Dog 5 0",
            "en.m dog 7 0",
            "en.m Dog 3 0",
            "de Dog 9 0",
            "en Dog x 0",
            "en Big 1234567890123 0",
        ],
        "060000": [
            "en.m Dog 2 0",
            "en \u00e9t\u00e9 4 0",
            "en Cat 1 0",
            "en Cat",
            "en.m Big 10 0",
            "en Zero 0 0",
        ],
    }
    by_hour = {}
    for name, rows in lines.items():
        path = tmp_path / f"pageviews-20260302-{name}.gz"
        path.write_bytes(gzip.compress(("\n".join(rows) + "\n").encode()))
        by_hour[int(name[:2]) - 1] = str(path)
    out = sum_hourly(spark, {D1: by_hour}, ("en", "en.m"))
    got: dict[str | None, tuple[int, int, set[str]]] = {}
    for row in out.collect():  # a title is in a row per task that read it: summed here
        views, mobile, hours = got.get(row["title"], (0, 0, set()))
        pairs = set(row["hours"].split(",")) if row["hours"] else set()
        got[row["title"]] = (views + row["views"], mobile + row["mobile"], hours | pairs)
    assert got == {
        "Dog": (10, 5, {"0:8", "5:2"}),
        "dog": (7, 7, {"0:7"}),
        "\u00e9t\u00e9": (4, 0, {"5:4"}),
        "Cat": (1, 0, {"5:1"}),
        "Big": (1234567890133, 10, {"0:1234567890123", "5:10"}),  # the pairs' digits, any width
        "Zero": (0, 0, {"5:0"}),
        None: (2, 0, set()),
    }


def _per_title(rows: list[Any]) -> dict[str | None, tuple[int, int, dict[str, int]]]:
    """Rows of the `sums` mode summed per title: views, mobile views, views per hour."""
    got: dict[str | None, tuple[int, int, dict[str, int]]] = {}
    for row in rows:
        views, mobile, hours = got.get(row["title"], (0, 0, {}))
        for pair in filter(None, (row["hours"] or "").split(",")):
            hour, count = pair.split(":")
            hours[hour] = hours.get(hour, 0) + int(count)
        got[row["title"]] = (views + row["views"], mobile + row["mobile"], hours)
    return got


def test_a_task_whose_table_memory_is_refused_emits_partial_sums_that_add_up(
    spark: Any, tmp_path: Any
) -> None:
    """A task's table takes Spark's execution memory as it grows; refused (here by the source's
    `maxTableBytes` cap), its rows go out and an empty table goes on from the line that did not
    fit: more rows, the same sums per title, hour and code, the bad lines counted once."""
    rng = random.Random(3)
    by_hour, expected = {}, {}
    for hour in (0, 7, 13):
        lines = ["en Broken"]
        for _ in range(6000):
            title, code, views = (
                f"T{rng.randrange(9000)}",
                rng.choice(("en", "en.m", "de")),
                rng.randint(0, 50),
            )
            lines.append(f"{code} {title} {views} 0")
            if code != "de":
                total, mobile, hours = expected.get(title, (0, 0, {}))
                hours[str(hour)] = hours.get(str(hour), 0) + views
                expected[title] = (total + views, mobile + (views if code == "en.m" else 0), hours)
        path = tmp_path / f"pageviews-20260302-{hour + 1:02d}0000.gz"
        path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
        by_hour[hour] = str(path)
    expected[None] = (3, 0, {})

    def read(**cap: str) -> list[Any]:
        ids = {D1: json.dumps(list(by_hour))}
        frame = scan_pageviews(
            spark,
            {D1: list(by_hour.values())},
            ("en", "en.m"),
            ["title", "views", "mobile", "hours"],
            "day date, title string, views long, mobile long, hours string",
            file_ids=ids,
            sums="true",
            mobile="en.m",
            **cap,
        )
        return list(frame.collect())

    whole, capped = read(), read(maxTableBytes="150000")
    assert len(capped) > len(whole) + 1000  # the capped tables were emitted several times
    assert _per_title(capped) == _per_title(whole) == expected


def test_the_driver_median_is_sparks_percentile(spark: Any) -> None:
    """`signals` takes the day's median mobile share on the driver: it must be the double Spark's
    `percentile(x, 0.5)` gives, bit for bit (odd and even counts, ties, shares of real counts)."""
    rng = random.Random(7)
    cases = [[0.25], [0.1, 0.2], [0.5, 0.5, 0.7], [1 / 3, 2 / 3, 0.0, 1.0]]
    totals = [[rng.randint(1, 10**6) for _ in range(n)] for n in range(2, 40)]
    cases += [[rng.randint(0, total) / total for total in day] for day in totals]
    rows = [(i, share) for i, shares in enumerate(cases) for share in shares]
    frame = spark.createDataFrame(rows, "case int, share double")
    expected = {
        row["case"]: row["median"]
        for row in frame.groupBy("case").agg(F.percentile("share", 0.5).alias("median")).collect()
    }
    assert {i: traffic._median(shares) for i, shares in enumerate(cases)} == expected
    assert traffic._median([]) is None
