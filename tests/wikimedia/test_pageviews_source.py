"""The `pageviews` Spark source (jvm/): code filter, field cuts and bad lines, on real files.

The rules are pinned twice: by a table of named cases, and by a differential check against a
plain-Python reading of the same rules over random lines (odd bytes, signs, control characters,
every line terminator, a line longer than the reader's buffer, multi-member gzip, a plain file).
"""

from __future__ import annotations

import gzip
import random
import re
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import functions as F  # noqa: N812

from common.settings import Settings
from common.storage import ensure_bucket, lake_path, write_object
from jobs.wikimedia_pageviews import extract, transform

D1, D2 = date(2026, 3, 2), date(2026, 3, 3)
CODES = ("en", "en.m")
LONG_MAX = (1 << 63) - 1
TRIMMED = bytes(range(0x21))  # what Spark's try_cast to BIGINT trims at both ends


def _gz(path: Path, lines: list[str]) -> str:
    path.write_bytes(gzip.compress("".join(f"{line}\n" for line in lines).encode()))
    return str(path)


@pytest.mark.unit
def test_codes_fields_and_bad_lines(spark: Any, tmp_path: Path) -> None:
    day1 = [
        "en Foo 3 0",
        "en.m Foo 2 0",
        "en.b Foo 100 0",  # wikibooks
        "de Foo 100 0",
        "enx Foo 100 0",  # a code that only starts like ours
        "en Foo bar 3 0",  # five fields
        "en Foo_bar",  # two fields
        "en.m Foo abc 0",  # views not a number
        "en Foo 3",  # three fields
        "en Foo 3 0 x",  # five fields, views in place
        "en Foo -3 0",  # negative views
        'en "Quoted"_title 4 0',
        "en Foo 3 0 ",  # a trailing space is a fifth, empty field
        "en  3 0",  # an empty title is still four fields
        "en.m Café_東京 2 0",  # multi-byte titles are cut on bytes
        "en Foo 99999999999999999999 0",  # views overflow a long
        "en Foo +1 0",  # a sign is allowed, as in try_cast
        "en Foo -0 0",
    ]
    by_day = {
        D1: [_gz(tmp_path / "a.gz", day1[:9]), _gz(tmp_path / "b.gz", day1[9:])],
        D2: [_gz(tmp_path / "c.gz", ["en foo 1 0"])],
    }
    got = transform.daily_title_views(extract.read_hourly(spark, by_day, CODES))
    rows = sorted(
        ((r["day"], r["title"], r["views"]) for r in got.collect()),
        key=lambda r: (r[0], r[1] is not None, r[1] or ""),
    )
    assert rows == [
        (D1, None, 8),  # the 8 bad lines, one view each
        (D1, "", 3),  # the empty title
        (D1, '"Quoted"_title', 4),
        (D1, "Café_東京", 2),
        (D1, "Foo", 6),
        (D2, "foo", 1),
    ]


@pytest.mark.unit
def test_no_files_gives_an_empty_frame(spark: Any) -> None:
    rows = extract.read_hourly(spark, {D1: []}, CODES)
    assert rows.columns == ["day", "title", "views"]
    assert rows.count() == 0


def _reference(data: bytes, codes: tuple[str, ...]) -> Counter[tuple[str | None, int]]:
    """The source's rules in plain Python: title hex (None when bad) and views per line."""
    lines = re.split(rb"\r\n|\r|\n", data.removeprefix(b"\xef\xbb\xbf"))
    if lines and lines[-1] == b"":
        lines.pop()
    out: Counter[tuple[str | None, int]] = Counter()
    prefixes = [c.encode() + b" " for c in codes]
    for line in lines:
        prefix = next((p for p in prefixes if line.startswith(p)), None)
        if prefix is None:
            continue
        fields = line[len(prefix) :].split(b" ")
        views = fields[1].strip(TRIMMED) if len(fields) == 3 else b""
        if re.fullmatch(rb"[+-]?[0-9]+", views) and 0 <= int(views) <= LONG_MAX:
            out[(fields[0].hex().upper(), int(views))] += 1
        else:
            out[(None, 1)] += 1
    return out


def _random_lines(rng: random.Random, count: int) -> bytes:
    codes = [b"en", b"en.m", b"de", b"enx", b"en.b", b"", b"EN"]
    title_bytes = [b"a", b"Z", b"_", b"\xc3\xa9", b"\xe6\x9d\xb1", b'"', b"'", b"\x00", b"\x7f", b"\xff"]
    title_bytes += [b"\t"]
    views = [b"1", b"0", b"-0", b"+5", b"-3", b"\t7\x01", b"99999999999999999999", b"9223372036854775807"]
    views += [b"9223372036854775808", b"abc", b"", b"1.5", b"+", b"0x1", b"\x0b12\x1f", b"12\x80"]
    terminators = [b"\n", b"\n", b"\n", b"\r\n", b"\r"]
    out = []
    for _ in range(count):
        title = b"".join(rng.choice(title_bytes) for _ in range(rng.randint(0, 6)))
        fields = [rng.choice(codes), title, rng.choice(views), rng.choice([b"0", b"12", b""])]
        if rng.random() < 0.1:
            fields.insert(rng.randint(1, 4), rng.choice(title_bytes))
        if rng.random() < 0.1:
            del fields[rng.randint(1, len(fields) - 1)]
        out.append(b" ".join(fields) + rng.choice(terminators))
    return b"".join(out)


@pytest.mark.unit
def test_matches_a_plain_python_reading_of_the_rules(spark: Any, tmp_path: Path) -> None:
    rng = random.Random(7)
    first, second = _random_lines(rng, 3000), _random_lines(rng, 3000)
    edge = b"en " + b"x" * ((1 << 20) - 8) + b" 2 0\r"  # its '\r' ends the reader's first 1 MiB buffer
    edge += b"\nen.m " + b"y" * (3 << 20) + b" 5 0"  # longer than the buffer, no final newline
    files = {
        tmp_path / "multi.gz": gzip.compress(first) + gzip.compress(second),  # two gzip members
        tmp_path / "plain.txt": _random_lines(rng, 2000),  # no codec: read as is
        tmp_path / "edge.txt": edge,
        tmp_path / "empty.gz": gzip.compress(b""),
        tmp_path / "bom.gz": gzip.compress(b"\xef\xbb\xbfen Bom 4 0\nen Bom 1 0"),  # a UTF-8 BOM is skipped
    }
    expected: Counter[tuple[str | None, int]] = Counter()
    for path, content in files.items():
        path.write_bytes(content)
        expected += _reference(gzip.decompress(content) if path.suffix == ".gz" else content, CODES)
    got = (
        spark.read.format("pageviews")
        .option("codes", ",".join(CODES))
        .load([str(p) for p in files])
        .select(F.hex(F.col("title").cast("binary")).alias("title"), "views")
        .collect()
    )
    assert Counter((r["title"], r["views"]) for r in got) == expected
    good = sum(n for (title, _), n in expected.items() if title is not None)
    assert expected[(None, 1)] > 500 and good > 500  # both kinds of line were exercised


@pytest.mark.unit
def test_codes_option_is_required(spark: Any, tmp_path: Path) -> None:
    path = _gz(tmp_path / "a.gz", ["en Foo 1 0"])
    with pytest.raises(Exception, match="option 'codes'"):
        spark.read.format("pageviews").load([path]).collect()


@pytest.mark.integration
def test_reads_from_s3a_on_minio(spark: Any, s3_lake: Settings) -> None:
    """The executors open the files with the session's Hadoop configuration (S3A to MinIO here)."""
    ensure_bucket(s3_lake, "lake-tests")
    uri = lake_path(s3_lake, "raw", "pageviews-20260302-010000.gz")
    write_object(uri, gzip.compress(b"en Foo 3 0\nde Foo 9 0\nen.m Foo 2 0\nen bad\n"), s3_lake)
    rows = extract.read_hourly(spark, {D1: [uri]}, CODES).collect()
    assert sorted((r["title"] or "", r["views"]) for r in rows) == [("", 1), ("Foo", 2), ("Foo", 3)]


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


_WHOLE = gzip.compress(b"en Foo 1 0\n" * 1000)


@pytest.mark.unit
@pytest.mark.parametrize(
    "damaged",
    [
        _WHOLE[:-40],  # truncated: no trailer, half a stream
        _flip(_WHOLE, len(_WHOLE) - 8),  # the trailer's CRC does not match the data
        _WHOLE[:-4] + (10**6).to_bytes(4, "little"),  # the trailer's length does not match
        _flip(_WHOLE, 30),  # damaged deflate data
    ],
    ids=["truncated", "crc", "length", "data"],
)
def test_a_corrupt_file_fails_the_read_naming_it(spark: Any, tmp_path: Path, damaged: bytes) -> None:
    """Whichever way a file is damaged, the read fails naming it (never rows from half a file):
    libdeflate leaves such a file to Hadoop's codec, whose error names the damage."""
    good = _gz(tmp_path / "good.gz", ["en Foo 1 0"])
    bad = tmp_path / "pageviews-20260302-020000.gz"
    bad.write_bytes(damaged)
    with pytest.raises(Exception, match=r"pageviews: cannot read .*pageviews-20260302-020000\.gz"):
        extract.read_hourly(spark, {D1: [good, str(bad)]}, CODES).collect()


@pytest.mark.unit
def test_gzip_files_are_inflated_by_libdeflate(spark: Any) -> None:
    """The fast path is there: jlibdeflate's native library loads in the session's JVM (on a
    machine where it did not, every file would be streamed through Hadoop's codec, ~2x the CPU)."""
    assert spark.sparkContext._jvm.dataplatform.pageviews.WholeGzip.available()
