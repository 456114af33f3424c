"""Chispa tests of the pure transforms: normalisation, daily sums, resolution, rankings and ties."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F  # noqa: N812

from common.errors import ConfigError
from emulators.wikimedia_data import ucfirst
from jobs.wikimedia_pageviews import transform

pytestmark = pytest.mark.unit

D1, D2 = date(2026, 3, 2), date(2026, 3, 3)
VIEWS = "day date, title string, views long"


def _sorted(df: DataFrame, *cols: str) -> DataFrame:
    return df.orderBy(*cols)


def test_wiki_codes() -> None:
    assert transform.wiki_codes("enwiki") == ("en", "en.m")
    assert transform.wiki_codes("zh_min_nanwiki") == ("zh-min-nan", "zh-min-nan.m")
    with pytest.raises(ConfigError):
        transform.wiki_codes("commons")


def test_normalise_title_matches_plain_python(spark: Any) -> None:
    titles = [
        "albert_Einstein",
        "éclair",
        "ßtest",
        "東京",
        "",
        "a b c",
        "Already_Fine",
        "ǆungla",
        "1984",
        "-",
    ]
    df = spark.createDataFrame([(t,) for t in titles], "title string")
    got = [r[0] for r in df.select(transform.normalise_title(F.col("title"))).collect()]
    assert got == [ucfirst(t) for t in titles]
    assert got[:3] == ["Albert_Einstein", "Éclair", "ßtest"]


def test_daily_title_views_sums_per_day_and_title_and_counts_bad_lines(spark: Any) -> None:
    rows = spark.createDataFrame(
        [
            (D1, "Foo", 3),
            (D1, "Foo", 2),
            (D1, "foo", 1),  # raw titles: not normalised yet
            (D1, None, 1),  # two bad lines
            (D1, None, 1),
            (D2, "Foo", 7),
        ],
        VIEWS,
    )
    got = transform.daily_title_views(rows)
    expected = spark.createDataFrame(
        [(D1, None, 2), (D1, "Foo", 5), (D1, "foo", 1), (D2, "Foo", 7)],
        VIEWS,
    )
    assert_df_equality(_sorted(got, "day", "title"), _sorted(expected, "day", "title"), ignore_nullable=True)
    bad = transform.bad_line_counts(got).collect()
    assert [(r["day"], r["bad_lines"]) for r in bad] == [(D1, 2)]


def test_resolved_views_redirects_case_and_main_page(spark: Any) -> None:
    aggregated = spark.createDataFrame(
        [
            (D1, "Albert_Einstein", 10),
            (D1, "albert_Einstein", 1),  # first letter normalised
            (D1, "Einstein", 5),  # redirect, one hop
            (D1, "Double_redirect", 7),  # redirect to a redirect: not in the redirect dimension
            (D1, "Main_Page", 1000),
            (D1, "Main", 50),  # redirect to the main page
            (D1, "Talk:Albert_Einstein", 9),
            (D1, None, None),  # bad lines
            (D1, "Bern", 0),
        ],
        "day date, title string, views long",
    )
    articles = spark.createDataFrame([("Albert_Einstein",), ("Main_Page",), ("Bern",)], "title string")
    redirects = spark.createDataFrame(
        [("Einstein", "Albert_Einstein"), ("Main", "Main_Page")], "title string, target_title string"
    )
    got = transform.article_views(transform.resolve_titles(aggregated, articles, redirects))
    expected = spark.createDataFrame([(D1, "Albert_Einstein", 16)], VIEWS)
    assert_df_equality(got, expected, ignore_nullable=True)


def test_resolve_titles_keeps_each_rows_columns_and_views_sum_rows_of_one_title(spark: Any) -> None:
    """The job resolves the read's rows (a title in one row per task) with their other columns."""
    rows = spark.createDataFrame(
        [(D1, "einstein", 2, "0:2"), (D1, "Einstein", 3, "1:3"), (D1, "Albert_Einstein", 4, "0:4")],
        "day date, title string, views long, hours string",
    )
    articles = spark.createDataFrame([("Albert_Einstein",)], "title string")
    redirects = spark.createDataFrame([("Einstein", "Albert_Einstein")], "title string, target_title string")
    resolved = transform.resolve_titles(rows, articles, redirects)
    assert resolved.columns == ["day", "title", "views", "hours"]
    assert sorted(tuple(r) for r in resolved.collect()) == [
        (D1, "Albert_Einstein", 2, "0:2"),
        (D1, "Albert_Einstein", 3, "1:3"),
        (D1, "Albert_Einstein", 4, "0:4"),
    ]
    got = transform.article_views(resolved)
    assert_df_equality(got, spark.createDataFrame([(D1, "Albert_Einstein", 9)], VIEWS), ignore_nullable=True)


def test_resolve_titles_normalises_every_title_that_needs_it(spark: Any) -> None:
    """The rewrite is skipped for titles below "a" without a space; each kind on either side of
    that line resolves as `normalise_title` says."""
    # (raw title, the article it resolves to)
    cases = [
        ("Albert Einstein", "Albert_Einstein"),
        ("albert_Einstein", "Albert_Einstein"),
        ("émile", "Émile"),
        ("Émile", "Émile"),
        ("`Tick", "`Tick"),
        ("_Under", "_Under"),
        ("{Brace", "{Brace"),
        ("ßeta", "ßeta"),
        ("9_Lives", "9_Lives"),
    ]
    rows = spark.createDataFrame([(D1, raw, 1) for raw, _ in cases], "day date, title string, views long")
    articles = spark.createDataFrame(sorted({(article,) for _, article in cases}), "title string")
    redirects = spark.createDataFrame([], "title string, target_title string")
    got = sorted(
        (r["title"], r["views"]) for r in transform.resolve_titles(rows, articles, redirects).collect()
    )
    assert got == sorted((article, 1) for _, article in cases)


def test_daily_summary_ties_and_missing_day(spark: Any) -> None:
    views = spark.createDataFrame(
        [
            (D1, "Zeta", 10),
            (D1, "Alpha", 10),  # most tie: smallest title
            (D1, "Épée", 2),  # code-point order: É (U+00C9) after any ASCII letter
            (D1, "Beta", 2),
            (D1, "beta", 2),  # lower case after upper case
            (D1, "Gamma", 5),
            (D2, "Solo", 3),
        ],
        VIEWS,
    )
    hours = spark.createDataFrame([(D1, 24), (D2, 23), (date(2026, 3, 4), 0)], "day date, hours int")
    got = transform.daily_summary(views, hours, "enwiki")
    expected = spark.createDataFrame(
        [
            ("enwiki", D1, 24, True, "Alpha", 10, "Beta", 2, 3),
            ("enwiki", D2, 23, False, "Solo", 3, "Solo", 3, 1),
            ("enwiki", date(2026, 3, 4), 0, False, None, None, None, None, None),
        ],
        "wiki string, day date, hours int, complete boolean, most_title string, most_views long, "
        "least_title string, least_views long, least_ties long",
    )
    assert_df_equality(_sorted(got, "day"), expected, ignore_nullable=True)


def test_top_categories_hidden_ties_and_cut(spark: Any) -> None:
    views = spark.createDataFrame(
        [(D1, "A", 10), (D1, "B", 5), (D1, "C", 5), (D1, "D", 1), (D1, "E", 1), (D2, "A", 2)], VIEWS
    )
    members = spark.createDataFrame(
        [
            ("A", "Big", False),
            ("B", "Big", False),
            ("A", "Maintenance", True),  # hidden: left out
            ("B", "Tie_b", False),
            ("C", "Tie_a", False),  # same views as Tie_b: smallest name first
            ("D", "Small", False),
            ("E", "Small", False),
            ("D", "Tiny", False),
            ("E", "Zero", False),
            ("Z", "Nobody_viewed", False),
            ("A", "Big", False),  # duplicated link counted once
        ],
        "title string, category string, hidden boolean",
    )
    got = transform.top_categories(views, members, "enwiki")
    expected = spark.createDataFrame(
        [
            ("enwiki", D1, 1, "Big", 15, 2),
            ("enwiki", D1, 2, "Tie_a", 5, 1),
            ("enwiki", D1, 3, "Tie_b", 5, 1),
            ("enwiki", D1, 4, "Small", 2, 2),
            ("enwiki", D1, 5, "Tiny", 1, 1),
            ("enwiki", D2, 1, "Big", 2, 1),
        ],
        "wiki string, day date, rank int, category string, views long, articles long",
    )
    assert_df_equality(_sorted(got, "day", "rank"), expected, ignore_nullable=True)


PAGE = "page_id long, page_namespace int, page_title string, page_is_redirect int"


def _dims(spark: Any) -> dict[str, DataFrame]:
    page = spark.createDataFrame(
        [
            (1, 0, "Albert_Einstein", 0),
            (2, 0, "Einstein", 1),
            (3, 0, "Double", 1),
            (4, 0, "Interwiki", 1),
            (5, 1, "Albert_Einstein", 0),  # talk page
            (6, 14, "Physicists", 0),
            (7, 14, "Hidden_cat", 0),
            (8, 0, "Physicists", 0),  # an article titled like the category
        ],
        PAGE,
    )
    redirect = spark.createDataFrame(
        [(2, 0, "Albert_Einstein", ""), (3, 0, "Einstein", None), (4, 0, "Albert_Einstein", "fr")],
        "rd_from long, rd_namespace int, rd_title string, rd_interwiki string",
    )
    props = spark.createDataFrame(
        [(7, "hiddencat"), (8, "hiddencat"), (6, "wikibase_item")], "pp_page long, pp_propname string"
    )
    return {"page": page, "redirect": redirect, "page_props": props}


def test_build_articles_and_redirects(spark: Any) -> None:
    dims = _dims(spark)
    articles = transform.build_articles(dims["page"])
    assert sorted(tuple(r) for r in articles.collect()) == [(1, "Albert_Einstein"), (8, "Physicists")]
    redirects = transform.build_redirects(dims["page"], dims["redirect"], articles)
    assert [tuple(r) for r in redirects.collect()] == [(2, "Einstein", "Albert_Einstein")]


@pytest.mark.parametrize("layout", ["legacy", "normalised"])
def test_build_category_members_both_layouts(spark: Any, layout: str) -> None:
    dims = _dims(spark)
    articles = transform.build_articles(dims["page"])
    links = spark.createDataFrame(
        [
            (1, "Physicists", 10, "page"),
            (1, "Hidden_cat", 11, "page"),
            (5, "Physicists", 10, "page"),  # talk page: not an article
            (2, "Physicists", 10, "page"),  # redirect: not an article
            (6, "Physicists", 10, "subcat"),
        ],
        "cl_from long, cl_to string, cl_target_id long, cl_type string",
    )
    if layout == "normalised":
        links = links.withColumn("cl_to", F.lit(None).cast("string"))
    linktarget = spark.createDataFrame(
        [(10, 14, "Physicists"), (11, 14, "Hidden_cat"), (12, 0, "Physicists")],
        "lt_id long, lt_namespace int, lt_title string",
    )
    got = transform.build_category_members(
        links,
        linktarget=linktarget,
        layout=layout,
        articles=articles,
        page=dims["page"],
        page_props=dims["page_props"],
    )
    expected = spark.createDataFrame(
        [(1, "Albert_Einstein", "Hidden_cat", True), (1, "Albert_Einstein", "Physicists", False)],
        "page_id long, title string, category string, hidden boolean",
    )
    assert_df_equality(_sorted(got, "category"), expected, ignore_nullable=True)
