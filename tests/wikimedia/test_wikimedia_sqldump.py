"""The MySQL dump parser: escapes, NULL, multi-row INSERTs cut anywhere, layouts from CREATE TABLE."""

from __future__ import annotations

import gzip
import io

import pytest

from emulators.wikimedia_data import CATEGORYLINKS_COLUMNS, build_wiki, dump_tables, render_dump, sql_value
from jobs.wikimedia_pageviews import sqldump
from jobs.wikimedia_pageviews.sqldump import DumpError, DumpHeader, iter_dump, split_fields, unescape
from jobs.wikimedia_pageviews.transform import categorylinks_layout

pytestmark = pytest.mark.unit

TRICKY = ["Don't", "back\\slash", 'say "hi"', "new\nline", "nul\0byte", "(paren),comma", "東京", "", "a\\'b"]


def _dump(rows: list[tuple[object, ...]], per_insert: int = 3) -> bytes:
    columns = [("id", "int(8) NOT NULL"), ("title", "varbinary(255) NOT NULL"), ("note", "blob DEFAULT NULL")]
    return render_dump("testwiki", "t", columns, rows, per_insert=per_insert)


def test_unescape_mysql_sequences() -> None:
    assert unescape(rb"Don\'t \\ \"q\" \n \0 \Z \t") == 'Don\'t \\ "q" \n \0 \x1a \t'
    assert unescape("é".encode()) == "é"


def test_split_fields_values() -> None:
    assert split_fields(b"1,'a,b',NULL,-2.5,''") == [1, "a,b", None, -2.5, ""]
    with pytest.raises(DumpError):
        split_fields(b"1,'unterminated")


@pytest.mark.parametrize("chunk", [1, 2, 7, 64, 1 << 20])
def test_round_trip_through_any_chunk_boundary(chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqldump, "CHUNK", chunk)
    rows = [(i, title, None if i % 2 else f"note {i}") for i, title in enumerate(TRICKY)]
    data = _dump(rows, per_insert=4)
    got = list(iter_dump(io.BytesIO(data), ["title", "id", "note"]))
    assert got == [(title, i, note) for i, title, note in rows]


def test_columns_by_name_and_absent_column_is_none() -> None:
    headers: list[DumpHeader] = []
    data = _dump([(1, "A", None)])
    got = list(iter_dump(io.BytesIO(data), ["note", "nope", "id"], on_header=headers.append))
    assert got == [(None, None, 1)]
    assert headers == [DumpHeader("t", ("id", "title", "note"))]


def test_sql_value_escapes_what_the_parser_reads() -> None:
    for text in TRICKY:
        assert unescape(sql_value(text)[1:-1].encode()) == text


def test_truncated_dump_is_an_error() -> None:
    data = _dump([(1, "A", None), (2, "B", None)], per_insert=2)
    cut = data[: data.index(b"(2,") + 5]
    with pytest.raises(DumpError, match=r"truncated|not terminated"):
        list(iter_dump(io.BytesIO(cut), ["id"]))


def test_dump_without_create_table_is_an_error() -> None:
    with pytest.raises(DumpError, match="CREATE TABLE"):
        list(iter_dump(io.BytesIO(b"INSERT INTO `t` VALUES (1);\n"), ["id"]))


def test_tuple_width_must_match_create_table() -> None:
    data = _dump([(1, "A", None)]).replace(b"(1,'A',NULL)", b"(1,'A')")
    with pytest.raises(DumpError, match="does not fit"):
        list(iter_dump(io.BytesIO(data), ["id"]))


@pytest.mark.parametrize(
    ("layout", "expected"), [("legacy", "legacy"), ("normalised", "normalised"), ("transitional", "legacy")]
)
def test_categorylinks_layout_detected_from_generated_dump(layout: str, expected: str) -> None:
    data = dump_tables(build_wiki(), "enwiki", layout)["categorylinks"]
    headers: list[DumpHeader] = []
    rows = list(
        iter_dump(io.BytesIO(data), ["cl_from", "cl_to", "cl_target_id", "cl_type"], on_header=headers.append)
    )
    assert headers[0].columns == CATEGORYLINKS_COLUMNS[layout]
    assert categorylinks_layout(headers[0].columns) == expected
    assert {r[3] for r in rows} == {"page", "subcat", "file"}
    if layout == "normalised":
        assert all(r[1] is None and isinstance(r[2], int) for r in rows)
    else:
        assert "Rock_'n'_roll_songs" in {r[1] for r in rows}


def test_unknown_categorylinks_layout() -> None:
    with pytest.raises(DumpError, match="layout"):
        categorylinks_layout(("cl_from", "cl_type"))


def test_page_dump_from_gzip_stream() -> None:
    data = gzip.compress(dump_tables(build_wiki(), "enwiki", "legacy")["page"])
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
        rows = list(iter_dump(stream, ["page_id", "page_namespace", "page_title", "page_is_redirect"]))
    titles = {r[2] for r in rows if r[1] == 0}
    assert {'"Weird_Al"_Yankovic', "Back\\slash_(band)", "Rock_'n'_Roll", "東京"} <= titles
