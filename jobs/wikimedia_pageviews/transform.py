"""Pure DataFrame -> DataFrame steps of the Wikipedia pageviews job (no I/O, no session, no config).

String ordering in Spark is binary UTF-8, which is code-point order: the contract's tie rule
("smallest title, code-point order") is a plain ascending sort on the string column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F  # noqa: N812 - the usual alias

from common.errors import ConfigError
from jobs.wikimedia_pageviews.sqldump import DumpError

MAIN_PAGE = "Main_Page"
CATEGORY_NAMESPACE = 14
TOP_CATEGORIES = 5
_WIKI_RE = re.compile(r"^([a-z][a-z0-9_]*)wiki$")


def wiki_codes(wiki: str) -> tuple[str, str]:
    """Domain codes of a Wikipedia in the pageview files: `enwiki` -> (`en`, `en.m`).

    Database names use `_` where domain codes use `-` (`zh_min_nanwiki` -> `zh-min-nan`).
    """
    match = _WIKI_RE.match(wiki)
    if match is None:
        raise ConfigError("--wiki", f"'{wiki}' is not a Wikipedia database name such as enwiki")
    language = match.group(1).replace("_", "-")
    return language, f"{language}.m"


def normalise_title(title: Column) -> Column:
    """A title as MediaWiki stores it on enwiki: spaces to `_`, first character upper-cased.

    The first code point is upper-cased only when its upper case is one code point: MediaWiki keeps
    e.g. `ß` (whose full upper case is `SS`) through its ucfirst overrides, and so do we. Java's
    Unicode tables decide the rest (rare letters where PHP and Java disagree are not special-cased).
    `replace`, not `translate`: the same answer for one character, but `translate` looks each code
    point up in a map of strings (measured, the largest CPU item of resolving a day's ~1 M titles).
    """
    spaced = F.replace(title, F.lit(" "), F.lit("_"))
    first = F.substring(spaced, 1, 1)
    upper = F.upper(first)
    head = F.when(F.length(upper) == 1, upper).otherwise(first)
    return F.concat(head, F.substring(spaced, 2, 1 << 30))


def daily_title_views(rows: DataFrame) -> DataFrame:
    """Sum the views per day and raw (not normalised) title: the wide step of the aggregation.

    Needs `day`, `title`, `views` as `extract.sum_hourly` (or `read_hourly`) returns them: bad
    lines are in null titles' views, so the null group's sum is the day's count of bad lines. One
    sum is the only aggregate buffer (a second one, a count, measured 11% slower).
    """
    return rows.groupBy("day", "title").agg(F.sum("views").alias("views"))


def bad_line_counts(rows: DataFrame) -> DataFrame:
    """`day`, `bad_lines` from rows whose null titles' views count the bad lines (`sum_hourly`'s,
    or `daily_title_views`' output)."""
    return rows.where(F.col("title").isNull()).groupBy("day").agg(F.sum("views").alias("bad_lines"))


def resolve_titles(
    rows: DataFrame, articles: DataFrame, redirects: DataFrame, main_page: str = MAIN_PAGE
) -> DataFrame:
    """The rows of `rows` whose title is an article: normalised, redirects resolved (one hop),
    non-articles and the main page dropped; `title` becomes the article's, the other columns kept.

    Needs `rows` (`day`, `title`, `views`, any more: `extract.sum_hourly`'s rows, a title in
    several of them), `articles` (`title`) and `redirects` (`title`, `target_title`, the target
    being an article). Rows without views or title (the bad lines' count) are dropped.
    """
    lookup = articles.select("title", F.col("title").alias("article")).unionByName(
        redirects.select("title", F.col("target_title").alias("article"))
    )
    title = F.col("title")
    # A title below "a" (its first character ASCII, and no ASCII letter below "a" has another upper
    # case) without a space is already normalised: only the others pay for the rewrite.
    rewrite = (title >= F.lit("a")) | title.contains(" ")
    normalised = rows.where(title.isNotNull() & (F.col("views") > 0)).withColumn(
        "title", F.when(rewrite, normalise_title(title)).otherwise(title)
    )
    kept = [c for c in rows.columns if c not in ("day", "title")]
    return (
        normalised.join(lookup, "title")
        .where(F.col("article") != F.lit(main_page))
        .select("day", F.col("article").alias("title"), *kept)
    )


def article_views(resolved: DataFrame) -> DataFrame:
    """Daily views per article from `resolve_titles`' rows: `day`, `title`, `views` (long, > 0)."""
    return resolved.groupBy("day", "title").agg(F.sum("views").cast("long").alias("views"))


def daily_summary(views: DataFrame, hours: DataFrame, wiki: str) -> DataFrame:
    """One row per day of `hours`: most and least requested article, ties of the least, completeness.

    Needs `views` (`day`, `title`, `views`) and `hours` (`day`, `hours`). Most: highest views, tie
    to the smallest title. Least: lowest views >= 1, tie to the smallest title; `least_ties` counts
    the articles with that many views. A day without any article view keeps null answers.
    Two hash aggregates and no sort of the day's articles: they are grouped by their count of
    views (with each group's smallest title and size), and the day's answers are the smallest
    (-views, title) and (views, title, size) of its groups (structs compare field by field).
    """
    by_views = views.groupBy("day", "views").agg(
        F.min("title").alias("title"), F.count(F.lit(1)).alias("articles")
    )
    answers = by_views.groupBy("day").agg(
        F.min(F.struct((-F.col("views")).alias("negative_views"), "title")).alias("_most"),
        F.min(F.when(F.col("views") >= 1, F.struct("views", "title", "articles"))).alias("_least"),
    )
    return hours.join(answers, "day", "left").select(
        F.lit(wiki).alias("wiki"),
        F.col("day").cast("date").alias("day"),
        F.col("hours").cast("int").alias("hours"),
        (F.col("hours") == 24).alias("complete"),
        F.col("_most.title").alias("most_title"),
        (-F.col("_most.negative_views")).cast("long").alias("most_views"),
        F.col("_least.title").alias("least_title"),
        F.col("_least.views").cast("long").alias("least_views"),
        F.col("_least.articles").cast("long").alias("least_ties"),
    )


def top_categories(views: DataFrame, members: DataFrame, wiki: str, top: int = TOP_CATEGORIES) -> DataFrame:
    """The `top` categories of each day by summed article views, hidden ones left out.

    Needs `views` (`day`, `title`, `views`) and `members` (`title`, `category`, `hidden`: article
    members, i.e. `cl_type = 'page'`). Ties go to the smallest name; `articles` is how many member
    articles had views that day. Returns `wiki`, `day`, `rank` (int), `category`, `views`, `articles`.
    """
    visible = members.where(~F.col("hidden")).select("title", "category").distinct()
    per_category = (
        views.where(F.col("views") > 0)
        .join(visible, "title")
        .groupBy("day", "category")
        .agg(F.sum("views").alias("views"), F.count(F.lit(1)).alias("articles"))
    )
    ranking = Window.partitionBy("day").orderBy(F.col("views").desc(), F.col("category").asc())
    return (
        per_category.withColumn("rank", F.row_number().over(ranking))
        .where(F.col("rank") <= top)
        .select(
            F.lit(wiki).alias("wiki"),
            F.col("day").cast("date").alias("day"),
            F.col("rank").cast("int").alias("rank"),
            "category",
            F.col("views").cast("long").alias("views"),
            F.col("articles").cast("long").alias("articles"),
        )
    )


# --- dimensions from the SQL dumps ---


def categorylinks_layout(columns: Sequence[str]) -> str:
    """`legacy` when the dump has `cl_to` (also the transitional layout), else `normalised`."""
    if "cl_to" in columns:
        return "legacy"
    if "cl_target_id" in columns:
        return "normalised"
    raise DumpError("categorylinks dump has neither cl_to nor cl_target_id (unknown layout)")


def build_articles(page: DataFrame) -> DataFrame:
    """Articles: pages of namespace 0 that are not redirects. Returns `page_id`, `title`."""
    return page.where((F.col("page_namespace") == 0) & (F.col("page_is_redirect") == 0)).select(
        F.col("page_id").cast("long").alias("page_id"), F.col("page_title").alias("title")
    )


def build_redirects(page: DataFrame, redirect: DataFrame, articles: DataFrame) -> DataFrame:
    """Redirects of namespace 0 whose target (one hop) is an article of namespace 0.

    Returns `page_id`, `title` (the redirect), `target_title` (the article).
    """
    sources = page.where((F.col("page_namespace") == 0) & (F.col("page_is_redirect") == 1)).select(
        F.col("page_id").cast("long").alias("page_id"), F.col("page_title").alias("title")
    )
    targets = redirect.where(
        (F.col("rd_namespace") == 0) & (F.col("rd_interwiki").isNull() | (F.col("rd_interwiki") == ""))
    ).select(F.col("rd_from").cast("long").alias("page_id"), F.col("rd_title").alias("target_title"))
    return (
        sources.join(targets, "page_id")
        .join(articles.select(F.col("title").alias("target_title")), "target_title")
        .select("page_id", "title", "target_title")
    )


def build_category_members(
    categorylinks: DataFrame,
    *,
    linktarget: DataFrame | None,
    layout: str,
    articles: DataFrame,
    page: DataFrame,
    page_props: DataFrame,
) -> DataFrame:
    """Article members of each category (`cl_type = 'page'`), flagged `hidden` from `page_props`.

    `legacy`: the category is `cl_to`; `normalised`: `linktarget.lt_title` of `cl_target_id` in
    namespace 14. Returns `page_id`, `title`, `category`, `hidden`.
    """
    links = categorylinks.where(F.col("cl_type") == "page")
    if layout == "legacy":
        named = links.select(F.col("cl_from").cast("long").alias("page_id"), F.col("cl_to").alias("category"))
    else:
        if linktarget is None:
            raise DumpError("categorylinks uses cl_target_id but the linktarget dump is missing")
        targets = linktarget.where(F.col("lt_namespace") == CATEGORY_NAMESPACE).select(
            F.col("lt_id").cast("long").alias("cl_target_id"), F.col("lt_title").alias("category")
        )
        named = (
            links.select(F.col("cl_from").cast("long").alias("page_id"), F.col("cl_target_id").cast("long"))
            .join(targets, "cl_target_id")
            .select("page_id", "category")
        )
    hidden = (
        page.where(F.col("page_namespace") == CATEGORY_NAMESPACE)
        .join(
            page_props.where(F.col("pp_propname") == "hiddencat").select(F.col("pp_page").alias("page_id")),
            "page_id",
        )
        .select(F.col("page_title").alias("category"), F.lit(True).alias("hidden"))
        .distinct()
    )
    return (
        named.join(articles, "page_id")
        .join(hidden, "category", "left")
        .select("page_id", "title", "category", F.coalesce(F.col("hidden"), F.lit(False)).alias("hidden"))
        .distinct()
    )
