"""The `sqldump` Spark source (jvm/) against the Python parser (`sqldump.iter_dump`), its reference.

Differential: generated dumps with every escape MySQL writes (and some it never does), NULL,
negative numbers, floats, empty strings, raw control bytes, ill-formed UTF-8, INSERTs over several
lines, column lists, comments between statements, and tuples straddling the reader's 1 MiB buffer
are read by both; the rows must be equal, in order. Malformed dumps must fail both, the source
with one line that names the file and the cause.
"""

from __future__ import annotations

import gzip
import io
import random
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

from jobs.wikimedia_pageviews import extract
from jobs.wikimedia_pageviews.sqldump import DumpError, iter_dump

pytestmark = pytest.mark.unit

COLUMNS = [
    ("id", "int(8) unsigned NOT NULL"),
    ("ns", "int(11) NOT NULL"),
    ("title", "varbinary(255) NOT NULL"),
    ("score", "double NOT NULL"),
    ("note", "blob DEFAULT NULL"),
    ("sortkey", "varbinary(230) NOT NULL"),
    ("big", "bigint(20) DEFAULT NULL"),
]
SCHEMA = StructType(
    [
        StructField("title", StringType()),
        StructField("big", LongType()),
        StructField("absent", StringType()),  # not in the dump: null
        StructField("ns", IntegerType()),
        StructField("note", StringType()),
        StructField("id", LongType()),
    ]
)
# How a byte may be written inside a quoted string: raw, or as each escape that reads back as it.
ESCAPES: dict[int, list[bytes]] = {
    0x00: [b"\\0"],
    0x0A: [b"\\n", b"\n"],
    0x0D: [b"\\r", b"\r"],
    0x09: [b"\\t", b"\t"],
    0x1A: [b"\\Z", b"\x1a"],
    0x08: [b"\\b", b"\x08"],
    0x5C: [b"\\\\"],
    0x27: [b"\\'"],
    0x22: [b'\\"', b'"'],
}
PIECES = [
    "plain",
    "Don't",
    "東京",
    "Éclair",
    "ᓀᐦᐃᔭᐍᐏᐣ",  # Cree syllabics, as in crwiki
    "😀",
    "(paren),comma;semi",
    "INSERT INTO `t` VALUES (1);",
    "NULL",
    "",
    " ",
]
BYTES = [b"\x00", b"\n", b"\r", b"\t", b"\x1a", b"\x08", b"\\", b"'", b'"', b"\x7f"]
# Ill-formed UTF-8 (a binary column holds any byte): lone continuation, truncated sequences,
# overlong, surrogate, beyond U+10FFFF; Python's "replace" and the source must agree on each.
BAD_UTF8 = [
    b"\x80",
    b"\xbf\xbf",
    b"\xc0\xaf",
    b"\xc3",
    b"\xe2\x82",
    b"\xe0\x80\x80",
    b"\xed\xa0\x80",
    b"\xf0\x90\x80",
    b"\xf4\x90\x80\x80",
    b"\xf5",
    b"\xff\xfe",
    b"\xe2\x28\xa1",
]


def quoted(raw: bytes, rng: random.Random) -> bytes:
    """A MySQL string literal of `raw`, escapes chosen at random among the equivalent ones."""
    out = bytearray(b"'")
    for byte in raw:
        forms = ESCAPES.get(byte)
        if forms is not None:
            out += rng.choice(forms)
        elif byte < 0x80 and chr(byte).isalpha() and chr(byte) not in "ntrZb0" and rng.random() < 0.02:
            out += b"\\" + bytes([byte])  # an escape MySQL does not define stands for the byte itself
        else:
            out.append(byte)
    return bytes(out + b"'")


def random_text(rng: random.Random, bad: bool) -> bytes:
    parts: list[bytes] = []
    for _ in range(rng.randint(0, 6)):
        pick = rng.random()
        if pick < 0.5:
            parts.append(rng.choice(PIECES).encode())
        elif pick < 0.8:
            parts.append(rng.choice(BYTES))
        elif bad:
            parts.append(rng.choice(BAD_UTF8))
        else:
            parts.append(chr(rng.randint(0xA0, 0x2FFF)).encode())
    return b"".join(parts)


def number(value: int, rng: random.Random) -> bytes:
    text = str(value).encode()
    return rng.choice([text, text, text, b" " + text, text + b" ", b"+" + text if value >= 0 else text])


def render(rows: list[list[bytes]], rng: random.Random, *, tuples: int = 40) -> bytes:
    """A dump: preamble, CREATE TABLE, INSERTs of up to `tuples` tuples in various layouts."""
    body = ",\n".join(f"  `{name}` {kind}" for name, kind in COLUMNS)
    out = [
        b"-- MySQL dump 10.19  Distrib 10.11.6-MariaDB\n/*!40101 SET NAMES utf8mb4 */;\n",
        b"-- INSERT INTO in a comment, not a statement\n",
        f"CREATE TABLE `t` (\n{body},\n  PRIMARY KEY (`id`),\n  KEY `t_ns` (`ns`,`title`)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=binary;\n".encode(),
        b"/*!40000 ALTER TABLE `t` DISABLE KEYS */;\n",
    ]
    i = 0
    while i < len(rows):
        batch = rows[i : i + rng.randint(1, tuples)]
        i += len(batch)
        head = rng.choice(
            [
                b"INSERT INTO `t` VALUES ",
                b"INSERT INTO `t` VALUES\n",
                b"INSERT INTO `t` (`id`,`ns`,`title`,`score`,`note`,`sortkey`,`big`) VALUES ",
                b"INSERT INTO `t`\tVALUES  ",
            ]
        )
        glue = rng.choice([b",", b",\n", b", ", b",\r\n\t"])
        tuples_text = glue.join(b"(" + b",".join(r) + b")" for r in batch)
        out.append(head + tuples_text + rng.choice([b";\n", b"\n;\n"]))
        if rng.random() < 0.2:
            out.append(b"/*!40000 ALTER TABLE `t` ENABLE KEYS */;\n-- between statements\n")
    out.append(b"/*!40000 ALTER TABLE `t` ENABLE KEYS */;\n-- Dump completed\n")
    return b"".join(out)


def random_rows(count: int, seed: int, *, bad_utf8: bool = True, long_every: int = 0) -> list[list[bytes]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        note = b"NULL" if rng.random() < 0.2 else quoted(random_text(rng, bad_utf8), rng)
        title = random_text(rng, False)
        if long_every and i % long_every == 0:
            title += b"x" * rng.randint(200_000, 2_500_000)  # past the 1 MiB buffer, sometimes its double
        big = rng.choice([0, -1, 1, (1 << 63) - 1, -(1 << 63), rng.randint(-(10**12), 10**12)])
        score = rng.choice([b"0", b"-2.5", b"1e-05", b"0.473212207422", b"3.", b"-.5", b"7E+3"])
        rows.append(
            [
                number(i, rng),
                number(rng.choice([0, 14, -1, 2147483647, -2147483648]), rng),
                quoted(title, rng),
                score,
                note,
                quoted(bytes(rng.randrange(256) for _ in range(rng.randint(0, 12))), rng),  # binary
                b"NULL" if rng.random() < 0.1 else number(big, rng),
            ]
        )
    return rows


def python_rows(data: bytes) -> list[tuple[Any, ...]]:
    return list(iter_dump(io.BytesIO(data), SCHEMA.fieldNames()))


def spark_rows(spark: Any, path: Path) -> list[tuple[Any, ...]]:
    with extract.dump_errors():
        return [tuple(row) for row in extract.read_dump(spark, str(path), SCHEMA).collect()]


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(gzip.compress(data, compresslevel=1) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_rows_as_the_python_parser(spark: Any, tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    data = render(random_rows(3000, seed), rng)
    expected = python_rows(data)
    assert len(expected) == 3000
    assert spark_rows(spark, write(tmp_path / "t.sql.gz", data)) == expected
    assert spark_rows(spark, write(tmp_path / "t.sql", data)) == expected


def test_tuples_across_buffer_refills_and_growth(spark: Any, tmp_path: Path) -> None:
    rng = random.Random(9)
    data = render(random_rows(400, 9, long_every=37), rng, tuples=200)
    assert len(data) > 8 << 20
    expected = python_rows(data)
    assert max(len(r[0]) for r in expected) > 1 << 20
    assert spark_rows(spark, write(tmp_path / "long.sql.gz", data)) == expected


def test_every_escape_and_ill_formed_utf8_named(spark: Any, tmp_path: Path) -> None:
    titles = [
        rb"a\nb\tc\\d\'e\"f\0g\rh\Zi\bj",
        rb"\x\%\_\Q",  # undefined escapes: the byte itself
        b"",
        b"raw\ttab and\nnewline",
        *[b"x" + bad + b"y" for bad in BAD_UTF8],
    ]
    rows = [
        [str(i).encode(), b"0", b"'" + t + b"'", b"-0.5", b"NULL", b"''", b"-9223372036854775808"]
        for i, t in enumerate(titles)
    ]
    data = render(rows, random.Random(0))
    expected = python_rows(data)
    assert expected[0][0] == "a\nb\tc\\d'e\"f\0g\rh\x1ai\bj"
    assert expected[1][0] == "x%_Q"
    assert expected[2][:3] == ("", -(1 << 63), None)
    assert spark_rows(spark, write(tmp_path / "esc.sql.gz", data)) == expected


def _fails_alike(spark: Any, tmp_path: Path, data: bytes, message: str) -> None:
    with pytest.raises(DumpError, match=message):
        python_rows(data)
    path = write(tmp_path / "bad-dump.sql.gz", data)
    with pytest.raises(DumpError, match=rf"^SQL dump bad-dump\.sql\.gz: .*{message}") as caught:
        spark_rows(spark, path)
    assert "\n" not in str(caught.value)


def test_truncated_dump_fails_alike(spark: Any, tmp_path: Path) -> None:
    rows = [[str(i).encode(), b"0", b"'T'", b"0", b"NULL", b"''", b"0"] for i in range(50)]
    data = render(rows, random.Random(4), tuples=50)
    cut = data[: data.index(b"(20,") + 9]
    _fails_alike(spark, tmp_path, cut, "truncated or malformed tuple")
    unterminated = data[: data.rindex(b")") + 1]
    _fails_alike(spark, tmp_path, unterminated, "not terminated by ';'")


def test_truncated_gzip_names_the_file(spark: Any, tmp_path: Path) -> None:
    data = gzip.compress(render(random_rows(3000, 5), random.Random(5)), compresslevel=1)
    path = tmp_path / "cut.sql.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DumpError, match=r"^SQL dump cut\.sql\.gz: cannot read .*cut\.sql\.gz"):
        spark_rows(spark, path)


def test_malformed_dumps_fail_alike(spark: Any, tmp_path: Path) -> None:
    good = render([[b"1", b"0", b"'A'", b"0", b"NULL", b"''", b"1"]], random.Random(0))
    _fails_alike(spark, tmp_path, good.replace(b"(1,0,'A',", b"(1,'A',"), "does not fit the CREATE TABLE")
    _fails_alike(spark, tmp_path, good.replace(b"(1,0,'A',", b"(1,0,'A'x,"), "unparsable value")
    _fails_alike(spark, tmp_path, good.replace(b"(1,0,'A',", b"(1,,'A',"), "unparsable value")
    _fails_alike(spark, tmp_path, good.replace(b"CREATE TABLE", b"CREATE VIEW"), "no CREATE TABLE")


def test_values_that_do_not_fit_the_schema_fail(spark: Any, tmp_path: Path) -> None:
    good = render([[b"1", b"0", b"'A'", b"0", b"NULL", b"''", b"1"]], random.Random(0))
    cases = {
        b"(1,2147483648,'A',": "column ns: b'2147483648' is not an int",
        b"(1,'0','A',": "column ns: a quoted string where a number is expected",
        b"(1,0,5,": "column title: b'5' is not a quoted string",
        b"(1.5,0,'A',": "column id: b'1.5' is not a bigint",
    }
    for i, (tuple_head, message) in enumerate(cases.items()):
        path = write(tmp_path / f"schema-{i}.sql.gz", good.replace(b"(1,0,'A',", tuple_head))
        with pytest.raises(DumpError, match=message.replace("(", r"\(").replace(".", r"\.")):
            spark_rows(spark, path)


def test_keep_drops_rows_in_the_task(spark: Any, tmp_path: Path) -> None:
    rows = [[str(i).encode(), str(i % 3).encode(), b"'t'", b"0", b"NULL", b"''", b"0"] for i in range(30)]
    path = write(tmp_path / "keep.sql.gz", render(rows, random.Random(1)))
    got = extract.read_dump(spark, str(path), SCHEMA, ("ns", (0, 2))).collect()
    assert [r["id"] for r in got] == [i for i in range(30) if i % 3 != 1]
