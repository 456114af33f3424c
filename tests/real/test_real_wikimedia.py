"""The SQL dump parser and the dimension rules on real MediaWiki dumps (../shared/real/wikimedia).

ngwiki and crwiki (2016): `page` in the old 14-column layout (`page_restrictions`,
`page_counter`, `page_no_title_convert`), `redirect` rows with interwiki targets, Cree titles in
Canadian syllabics and titles holding escaped quotes. loginwiki (2024): the current 12-column
`page`. dewiki (2024): a `linktarget` head cut off by its publisher, which must fail clearly.
"""

from __future__ import annotations

import gzip
import io
import re
from pathlib import Path
from typing import Any

import pytest

from emulators.wikimedia_data import sql_value
from jobs.wikimedia_pageviews import transform
from jobs.wikimedia_pageviews.dimensions import DUMP_SCHEMAS
from jobs.wikimedia_pageviews.sqldump import DumpError, DumpHeader, iter_dump
from tests.real.conftest import real_path

pytestmark = pytest.mark.unit

PAGE = ("page_id", "page_namespace", "page_title", "page_is_redirect")
REDIRECT = ("rd_from", "rd_namespace", "rd_title", "rd_interwiki")


def dump_bytes(name: str) -> bytes:
    path = real_path("wikimedia", "sql", name)
    data = path.read_bytes()
    return gzip.decompress(data) if name.endswith(".gz") else data


def parse(name: str, columns: tuple[str, ...]) -> tuple[DumpHeader, list[tuple[Any, ...]]]:
    headers: list[DumpHeader] = []
    rows = list(iter_dump(io.BytesIO(dump_bytes(name)), columns, on_header=headers.append))
    return headers[0], rows


@pytest.mark.parametrize(
    ("name", "layout", "pages", "articles_ns0", "redirects_ns0"),
    [
        ("ngwiki-20160111-page.sql.gz", 14, 444, 25, 4),
        ("crwiki-20160111-page.sql.gz", 14, 2031, 418, 166),
        ("loginwiki-20240901-page.sql", 12, 14, 1, 0),
    ],
)
def test_page_columns_are_found_by_name_in_both_layouts(
    name: str, layout: int, pages: int, articles_ns0: int, redirects_ns0: int
) -> None:
    header, rows = parse(name, PAGE)
    assert header.table == "page" and len(header.columns) == layout
    # page_is_redirect is the 6th column in 2016 and the 4th in 2024: only its name finds it.
    assert header.columns.index("page_is_redirect") == (5 if layout == 14 else 3)
    assert len(rows) == pages
    assert sum(1 for r in rows if r[1] == 0) == articles_ns0
    assert sum(1 for r in rows if r[1] == 0 and r[3] == 1) == redirects_ns0
    assert all(isinstance(r[0], int) and isinstance(r[2], str) and r[3] in (0, 1) for r in rows)


def test_login_wiki_main_page() -> None:
    _, rows = parse("loginwiki-20240901-page.sql", PAGE)
    assert [r[2] for r in rows if r[1] == 0] == ["Main_Page"]


@pytest.mark.parametrize(
    ("name", "rows_total", "to_ns0", "interwiki"),
    [("ngwiki-20160111-redirect.sql.gz", 21, 10, 6), ("crwiki-20160111-redirect.sql.gz", 262, 131, 23)],
)
def test_redirects_keep_their_interwiki_prefix(
    name: str, rows_total: int, to_ns0: int, interwiki: int
) -> None:
    _, rows = parse(name, REDIRECT)
    assert len(rows) == rows_total
    assert sum(1 for r in rows if r[1] == 0) == to_ns0
    assert sum(1 for r in rows if r[3]) == interwiki


def test_cree_titles_and_escaped_quotes_come_out_exactly() -> None:
    """Every value, written back as mysqldump writes it, gives the dump's INSERT bytes again."""
    for name in (
        "crwiki-20160111-page.sql.gz",
        "ngwiki-20160111-redirect.sql.gz",
        "crwiki-20160111-redirect.sql.gz",
    ):
        raw = dump_bytes(name)
        header, rows = parse(name, ())
        _, rows = parse(name, header.columns)
        inserts = re.findall(rb"INSERT INTO `[^`]+` VALUES (.*);\n", raw)
        assert inserts, name
        rendered = ",".join("(" + ",".join(sql_value(v) for v in row) + ")" for row in rows)
        assert rendered.encode("utf-8") == b",".join(inserts), name
    _, pages = parse("crwiki-20160111-page.sql.gz", PAGE)
    titles = [r[2] for r in pages]
    assert sum(1 for t in titles if not t.isascii()) == 335
    assert sum(1 for t in titles if "'" in t or '"' in t) == 10
    assert "ᐃᔨᔨᐤ_ᐊᔨᒧᐎᓐ'" in titles  # ends with an escaped quote: `\'` just before the closing `'`
    assert 'Entête_tableau_"Code_Rendu"' in titles


def test_dimensions_of_the_cree_wiki(real_dir: Path, spark: Any) -> None:
    """The job's dimension rules on real rows: articles, and one-hop redirects to an article."""
    _, pages = parse("crwiki-20160111-page.sql.gz", tuple(DUMP_SCHEMAS["page"].fieldNames()))
    _, redirects = parse("crwiki-20160111-redirect.sql.gz", tuple(DUMP_SCHEMAS["redirect"].fieldNames()))
    page = spark.createDataFrame(pages, DUMP_SCHEMAS["page"])
    redirect = spark.createDataFrame(redirects, DUMP_SCHEMAS["redirect"])
    articles = transform.build_articles(page)
    got_articles = {(r["page_id"], r["title"]) for r in articles.collect()}
    expected_articles = {(p[0], p[2]) for p in pages if p[1] == 0 and p[3] == 0}
    assert got_articles == expected_articles and len(expected_articles) == 418 - 166

    got = {
        (r["page_id"], r["title"], r["target_title"])
        for r in transform.build_redirects(page, redirect, articles).collect()
    }
    titles = {p[0]: p[2] for p in pages if p[1] == 0 and p[3] == 1}
    article_titles = {t for _, t in expected_articles}
    expected = {
        (rd[0], titles[rd[0]], rd[2])
        for rd in redirects
        if rd[0] in titles and rd[1] == 0 and not rd[3] and rd[2] in article_titles
    }
    assert got == expected
    assert expected, "the Cree wiki has redirects to articles"

    # The real interwiki rows (`'en'`, `'m'`, `'ksh'`...) never resolve to a local article, even
    # where a local article has the target's title: plant such pages around them.
    interwiki = [rd for rd in redirects if rd[3] and rd[1] == 0]
    assert len(interwiki) >= 10
    planted = [(rd[0], 0, f"Redirect_{rd[0]}", 1) for rd in interwiki]
    planted += [(10**7 + i, 0, title, 0) for i, title in enumerate(sorted({rd[2] for rd in interwiki}))]
    page2 = spark.createDataFrame(planted, DUMP_SCHEMAS["page"])
    articles2 = transform.build_articles(page2)
    as_interwiki = spark.createDataFrame(interwiki, DUMP_SCHEMAS["redirect"])
    assert transform.build_redirects(page2, as_interwiki, articles2).count() == 0
    as_local = spark.createDataFrame([(*rd[:3], "") for rd in interwiki], DUMP_SCHEMAS["redirect"])
    assert transform.build_redirects(page2, as_local, articles2).count() == len(interwiki)


def test_truncated_linktarget_fails_with_one_clear_line(tmp_path: Path) -> None:
    """The real dewiki head ends inside its INSERT (no `;`, no trailer): an error, never partial rows."""
    data = dump_bytes("dewiki-20240901-linktarget-head.sql")
    assert not data.rstrip().endswith(b";")
    rows: list[tuple[Any, ...]] = []
    with pytest.raises(DumpError) as info:
        for row in iter_dump(io.BytesIO(data), tuple(DUMP_SCHEMAS["linktarget"].fieldNames())):
            rows.append(row)
    message = str(info.value)
    assert "\n" not in message
    assert "not terminated" in message or "truncated" in message
    # The tuples before the cut were real and well formed (escaped quotes included).
    assert len(rows) == 191 and all(r[1] == 0 for r in rows)
    assert any('"' in str(r[2]) for r in rows)
    # The same bytes gzipped, as the job lands them, fail the same way.
    landed = tmp_path / "dewiki-20240901-linktarget.sql.gz"
    landed.write_bytes(gzip.compress(data))
    with gzip.open(landed, "rb") as stream, pytest.raises(DumpError, match=r"not terminated|truncated"):
        list(iter_dump(stream, ("lt_id",)))


def test_a_dump_without_create_table_is_refused() -> None:
    """sparkwiki's hand-assembled rows have INSERTs but no CREATE TABLE: columns cannot be named."""
    data = dump_bytes("enwiki-2018-rows.from-sparkwiki-TestData.sql")
    with pytest.raises(DumpError, match="no CREATE TABLE"):
        list(iter_dump(io.BytesIO(data), ("page_id",)))


def test_the_jobs_spark_dump_reader_agrees_on_the_real_dumps(
    real_dir: Path, spark: Any, tmp_path: Path
) -> None:
    """The job reads dumps with its JVM `sqldump` source: same rows as the reference parser on real
    bytes (both page layouts, Cree titles, escaped quotes), and one line naming the truncated file."""
    from jobs.wikimedia_pageviews import extract

    cases = {
        "crwiki-20160111-page.sql.gz": "page",
        "ngwiki-20160111-page.sql.gz": "page",
        "crwiki-20160111-redirect.sql.gz": "redirect",
        "ngwiki-20160111-redirect.sql.gz": "redirect",
    }
    for name, table in cases.items():
        schema = DUMP_SCHEMAS[table]
        landed = tmp_path / name
        landed.write_bytes(real_path("wikimedia", "sql", name).read_bytes())
        got = sorted(extract.read_dump(spark, str(landed), schema).collect(), key=lambda r: r[0])
        _, expected = parse(name, tuple(schema.fieldNames()))
        assert [tuple(r) for r in got] == sorted(expected, key=lambda r: r[0]), name

    # The 2024 loginwiki page is plain text: landed gzipped, as the job lands every dump.
    login = tmp_path / "loginwiki-20240901-page.sql.gz"
    login.write_bytes(gzip.compress(dump_bytes("loginwiki-20240901-page.sql")))
    rows = extract.read_dump(spark, str(login), DUMP_SCHEMAS["page"], ("page_namespace", (0,))).collect()
    assert [(r["page_title"], r["page_is_redirect"]) for r in rows] == [("Main_Page", 0)]

    truncated = tmp_path / "dewiki-20240901-linktarget.sql.gz"
    truncated.write_bytes(gzip.compress(dump_bytes("dewiki-20240901-linktarget-head.sql")))
    with pytest.raises(DumpError) as info, extract.dump_errors():
        extract.read_dump(spark, str(truncated), DUMP_SCHEMAS["linktarget"]).count()
    message = str(info.value)
    assert "\n" not in message and len(message) < 300
    assert "not terminated" in message or "truncated" in message
    assert "dewiki-20240901-linktarget.sql.gz" in message  # names the file
