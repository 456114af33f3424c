"""Streaming parser of MySQL/MariaDB dump files (`mysqldump` syntax, as Wikimedia publishes them).

Why not a SQL engine: the dumps are tens of GB of `INSERT` statements holding thousands of tuples
each on very long lines. This parser reads the (decompressed) byte stream in chunks and yields one
tuple per row, so memory stays at about one chunk plus one tuple, whatever the file size. The
column list comes from the dump's own `CREATE TABLE`, so columns are picked by name, never by
position (the `categorylinks` layout changed in MediaWiki 1.45).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from common.errors import SourceError

CHUNK = 1 << 20
MAX_PREAMBLE = 16 << 20
MAX_TUPLE = 64 << 20

_CREATE_RE = re.compile(rb"CREATE TABLE `([^`]+)` \((.*?)\n\)", re.S)
_COLUMN_RE = re.compile(rb"^\s*`([^`]+)`\s", re.M)
_INSERT_RE = re.compile(rb"INSERT INTO `([^`]+)`(?:\s*\(([^)]*)\))?\s+VALUES\s*")
# One tuple: anything but quotes and parentheses, or a quoted string with backslash escapes.
_TUPLE_RE = re.compile(rb"\(((?:[^'()]++|'(?:[^'\\]++|\\.)*+')*+)\)", re.S)
_FIELD_RE = re.compile(rb"'((?:[^'\\]++|\\.)*+)'|(NULL)|([^,']++)", re.S)
_ESCAPE_RE = re.compile(rb"\\(.)", re.S)
_ESCAPES = {b"0": b"\0", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"Z": b"\x1a", b"b": b"\b"}
_SEPARATOR = frozenset(b" \t\r\n")

Value = str | int | float | None


class Readable(Protocol):
    """Anything with `read(n) -> bytes`: a gzip stream, an S3 body, a BytesIO."""

    def read(self, size: int = -1, /) -> bytes: ...


class DumpError(SourceError):
    """A dump that does not have the expected shape (no CREATE TABLE, a broken tuple, a missing column)."""


@dataclass(frozen=True)
class DumpHeader:
    """What the dump's `CREATE TABLE` says: the table name and its columns in order."""

    table: str
    columns: tuple[str, ...]


def unescape(raw: bytes) -> str:
    """A MySQL string literal's bytes (without the quotes) as text: `\\'`, `\\\\`, `\\n`, `\\0`..."""
    if b"\\" in raw:
        raw = _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), raw)
    return raw.decode("utf-8", errors="replace")


def _number(raw: bytes) -> int | float:
    try:
        return int(raw)
    except ValueError:
        return float(raw)


def parse_header(preamble: bytes) -> DumpHeader:
    """Table name and columns of the first `CREATE TABLE` in the preamble."""
    match = _CREATE_RE.search(preamble)
    if match is None:
        raise DumpError("SQL dump has no CREATE TABLE before its first INSERT")
    columns = tuple(c.decode() for c in _COLUMN_RE.findall(match.group(2)))
    if not columns:
        raise DumpError(f"SQL dump: CREATE TABLE `{match.group(1).decode()}` lists no column")
    return DumpHeader(match.group(1).decode(), columns)


def split_fields(inner: bytes) -> list[Value]:
    """The values of one tuple's inside (`1,'a\\'b',NULL`) as Python values."""
    values: list[Value] = []
    pos, end = 0, len(inner)
    while True:
        match = _FIELD_RE.match(inner, pos)
        if match is None:
            raise DumpError(f"SQL dump: unparsable value near {inner[pos : pos + 40]!r}")
        text, null, number = match.groups()
        if text is not None:
            values.append(unescape(text))
        elif null is not None:
            values.append(None)
        else:
            values.append(_number(number))
        pos = match.end()
        if pos == end:
            return values
        if inner[pos] != 0x2C:  # ','
            raise DumpError(f"SQL dump: unparsable value near {inner[pos : pos + 40]!r}")
        pos += 1


class _Reader:
    """A growing byte buffer over a stream, consumed from `pos`."""

    def __init__(self, stream: Readable) -> None:
        self.stream = stream
        self.buf = b""
        self.pos = 0
        self.eof = False

    def fill(self, keep_from: int | None = None) -> None:
        start = self.pos if keep_from is None else keep_from
        data = self.stream.read(CHUNK)
        if not data:
            self.eof = True
        self.buf = self.buf[start:] + data
        self.pos -= start


def iter_dump(
    stream: Readable,
    columns: Sequence[str],
    *,
    on_header: Callable[[DumpHeader], None] | None = None,
) -> Iterator[tuple[Value, ...]]:
    """Yield the `columns` of every row of every INSERT of a decompressed dump stream.

    A column the dump does not have yields None (callers detect layouts from the header through
    `on_header`). Raises DumpError on a malformed dump, never silently skips a broken tuple.
    """
    reader = _Reader(stream)
    header: DumpHeader | None = None
    indexes: list[int | None] = []
    while True:
        match = _next_insert(reader, preamble=header is None)
        if match is None:
            if header is None:
                parse_header(reader.buf)  # raises the clearer error when there is no table
            return
        if header is None:
            header = parse_header(reader.buf[: match.start()])
            if on_header is not None:
                on_header(header)
            where = {name: i for i, name in enumerate(header.columns)}
            indexes = [where.get(name) for name in columns]
        reader.pos = match.end()
        yield from _statement_rows(reader, len(header.columns), indexes)


def _next_insert(reader: _Reader, *, preamble: bool) -> re.Match[bytes] | None:
    """The next `INSERT INTO ... VALUES` from `reader.pos` (None at the end of the stream).

    While in the `preamble` (the header not known yet) the buffer is kept whole, so the
    `CREATE TABLE` before the first INSERT can be parsed; afterwards only a short tail.
    """
    while True:
        match = _INSERT_RE.search(reader.buf, reader.pos)
        if match is not None or reader.eof:
            return match
        keep = reader.pos if preamble else max(reader.pos, len(reader.buf) - 256)
        if preamble and len(reader.buf) > MAX_PREAMBLE:
            raise DumpError("SQL dump: no INSERT within the first 16 MB")
        reader.fill(keep)


def _statement_rows(reader: _Reader, width: int, indexes: list[int | None]) -> Iterator[tuple[Value, ...]]:
    """The picked values (`indexes`) of the tuples of one INSERT statement, up to its `;`."""
    while True:
        if len(reader.buf) - reader.pos < 2 and not reader.eof:
            reader.fill()
            continue
        if reader.pos < len(reader.buf) and reader.buf[reader.pos] in _SEPARATOR:
            reader.pos += 1
            continue
        tuple_match = _TUPLE_RE.match(reader.buf, reader.pos)
        if tuple_match is None:
            if reader.eof:
                near = reader.buf[reader.pos : reader.pos + 60]
                raise DumpError(f"SQL dump: truncated or malformed tuple near {near!r}")
            if len(reader.buf) - reader.pos > MAX_TUPLE:
                raise DumpError("SQL dump: a tuple longer than 64 MB")
            reader.fill()
            continue
        values = split_fields(tuple_match.group(1))
        if len(values) != width:
            raise DumpError(f"SQL dump: a tuple of {len(values)} values does not fit the CREATE TABLE")
        yield tuple(values[i] if i is not None else None for i in indexes)
        reader.pos = tuple_match.end()
        if _statement_ends(reader):
            return


def _statement_ends(reader: _Reader) -> bool:
    """After a tuple: `,` then the next one (False), or `;` ending the statement (True)."""
    while True:
        if reader.pos >= len(reader.buf):
            if reader.eof:
                raise DumpError("SQL dump: INSERT statement not terminated by ';'")
            reader.fill()
            continue
        char = reader.buf[reader.pos]
        if char not in _SEPARATOR:
            break
        reader.pos += 1
    reader.pos += 1
    if char == ord(","):
        return False
    if char == ord(";"):
        return True
    raise DumpError(f"SQL dump: unexpected {chr(char)!r} after a tuple")
