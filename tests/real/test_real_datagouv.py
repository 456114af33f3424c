"""The data.gouv.fr reader, matcher and export on a real catalogue slice (../shared/real/datagouv).

711 records of the 2026-01-16 export, byte for byte: 40 columns, a 203,104-character description,
bare `\\n` and `\\r\\n` inside quoted cells, NFD text, 399 records that match the contract's rule.
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import pytest

from emulators import datagouv_data
from jobs.datagouv_catalog import extract, load, transform
from tests.real.conftest import real_path

pytestmark = pytest.mark.unit

SAMPLE = "export-dataset-20260116-055249.sample.csv"
MATCHING = 399  # counted when the slice was cut (PROVENANCE.md), with the contract's rule
OVERSIZED_ID = "674547ce5cc63ed8987733cd"


@pytest.fixture(scope="module")
def sample() -> Path:
    return real_path("datagouv", SAMPLE)


@pytest.fixture(scope="module")
def records(sample: Path) -> list[list[str]]:
    """The oracle: Python's csv module, field size limit lifted (cells exceed its 131,072 default)."""
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        text = sample.read_bytes().decode("utf-8")
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"', doublequote=True))
    finally:
        csv.field_size_limit(limit)


def by_id(records: list[list[str]]) -> dict[str, dict[str, str]]:
    header = records[0]
    return {row[0]: dict(zip(header, row, strict=True)) for row in records[1:]}


def reference_ids(records: list[list[str]]) -> set[str]:
    return {
        i
        for i, row in by_id(records).items()
        if any(transform.reference_match(row[c]) for c in transform.MATCH_COLUMNS)
    }


def test_the_slice_holds_what_the_tests_rely_on(sample: Path, records: list[list[str]]) -> None:
    raw = sample.read_bytes()
    assert len(records) == 712 and all(len(r) == 40 for r in records)
    cells = [c for r in records[1:] for c in r]
    assert any("\r\n" in c for c in cells) and any("\n" in c.replace("\r\n", "") for c in cells)
    assert max(len(c) for c in cells) > 200_000
    assert raw.count(b"\r\n") > len(records)  # record ends plus `\r\n` inside cells


def test_header_is_read_as_published(sample: Path, records: list[list[str]]) -> None:
    header = extract.read_header(str(sample), None)  # type: ignore[arg-type]  # local: no settings used
    assert header == records[0]
    extract.require_columns(header, extract.DATASET_COLUMNS, "datasets")


def test_records_split_exactly_where_a_csv_reader_splits(sample: Path, records: list[list[str]]) -> None:
    raw = sample.read_bytes()
    with sample.open("rb") as fh:
        pieces = list(load.iter_records(fh))
    assert b"".join(pieces) == raw
    assert len(pieces) == len(records)
    assert all(p.endswith(b"\r\n") for p in pieces)
    assert [load._first_cell(p) for p in pieces[1:]] == [r[0] for r in records[1:]]


def test_export_of_every_id_gives_the_file_back_byte_for_byte(
    sample: Path, records: list[list[str]], tmp_path: Path
) -> None:
    out = tmp_path / "all.csv"
    assert load.export_matching(sample, out, {r[0] for r in records[1:]}) == 711
    assert out.read_bytes() == sample.read_bytes()


def test_export_of_the_matching_records_round_trips_every_cell(
    sample: Path, records: list[list[str]], tmp_path: Path
) -> None:
    ids = reference_ids(records)
    assert len(ids) == MATCHING
    out = tmp_path / "datasets.csv"
    assert load.export_matching(sample, out, ids) == MATCHING
    limit = csv.field_size_limit()
    csv.field_size_limit(sys.maxsize)
    try:
        text = out.read_bytes().decode("utf-8")
        exported = list(
            csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"', doublequote=True)
        )
    finally:
        csv.field_size_limit(limit)
    assert exported[0] == records[0]
    assert exported[1:] == [r for r in records[1:] if r[0] in ids]  # source order, cells unchanged
    kept = [c for r in exported[1:] for c in r]
    assert any("\r\n" in c for c in kept) and any("\n" in c.replace("\r\n", "") for c in kept)


def test_parts_cut_at_record_boundaries(sample: Path, tmp_path: Path) -> None:
    """The file cut for Spark (small parts here): the parts, headers dropped, are the file again."""
    parts = extract.split_parts(sample, tmp_path, part_bytes=120_000)
    assert len(parts) > 5
    raw = sample.read_bytes()
    with sample.open("rb") as fh:
        header = next(load.iter_records(fh))
    joined = parts[0].read_bytes() + b"".join(p.read_bytes()[len(header) :] for p in parts[1:])
    assert joined == raw
    for part in parts:
        assert part.read_bytes().startswith(header)


def test_spark_reads_and_matches_the_real_slice(
    sample: Path, records: list[list[str]], spark: Any, tmp_path: Path
) -> None:
    """The job's reader (multi-line CSV in parts) and its Spark matcher against the csv-module oracle."""
    parts_dir = tmp_path / "parts"
    parts_dir.mkdir()
    extract.split_parts(sample, parts_dir, part_bytes=200_000)
    header = extract.read_header(str(sample), None)  # type: ignore[arg-type]
    frame = extract.read_export(spark, str(parts_dir), header)
    rows = {r["id"]: r.asDict() for r in frame.collect()}
    expected = by_id(records)
    assert set(rows) == set(expected) and len(rows) == 711
    for dataset_id, row in expected.items():
        for column, cell in row.items():
            got = rows[dataset_id][column]
            # Spark's CSV parser reads an empty quoted cell as null and turns `\r\n` inside a quoted
            # cell into `\n` (why the export copies the source bytes instead of Spark's cells).
            want = None if cell == "" else cell.replace("\r\n", "\n")
            assert got == want, (dataset_id, column)
    assert len(rows[OVERSIZED_ID]["description"]) == len(expected[OVERSIZED_ID]["description"]) > 200_000

    matched = {r["id"] for r in transform.match_mobility(frame).select("id").collect()}
    assert matched == reference_ids(records)
    assert len(matched) == MATCHING


def test_emulator_writes_the_real_dialect(records: list[list[str]], sample: Path, tmp_path: Path) -> None:
    """The emulated export has the real header and writes cells as the real file does."""
    datagouv_data.generate(tmp_path, 60, 20, seed=3, description_size=400)
    emulated = (tmp_path / datagouv_data.DATASETS_FILE).read_bytes()
    assert list(datagouv_data.DATASET_COLUMNS) == records[0]
    real_forms, fake_forms = _cell_forms(sample.read_bytes()), _cell_forms(emulated)
    for column, forms in fake_forms.items():
        assert forms <= real_forms[column] | {"bare-number"}, (column, forms, real_forms[column])
    assert emulated.endswith(b"\r\n") and not emulated.startswith(b"\xef\xbb\xbf")


def _cell_forms(raw: bytes) -> dict[str, set[str]]:
    """Per column, how cells are written: quoted, empty-quoted, bare-number, bare-bool, bare-empty."""
    with io.BytesIO(raw) as fh:
        pieces = list(load.iter_records(fh))
    names = load._cells(pieces[0])
    forms: dict[str, set[str]] = {n: set() for n in names}
    for piece in pieces[1:]:
        raw_cells = _raw_cells(piece.rstrip(b"\r\n"))
        assert len(raw_cells) == len(names)
        for name, cell in zip(names, raw_cells, strict=True):
            if cell == b"":
                forms[name].add("bare-empty")
            elif cell == b'""':
                forms[name].add("empty-quoted")
            elif cell.startswith(b'"'):
                forms[name].add("quoted")
            elif cell in (b"True", b"False"):
                forms[name].add("bare-bool")
            else:
                forms[name].add("bare-number")
    return forms


def _raw_cells(record: bytes) -> list[bytes]:
    """A record cut at the `;` outside quotes, cells kept as written."""
    cells, current, quotes = [], [], 0
    for piece in record.split(b";"):
        current.append(piece)
        quotes += piece.count(b'"')
        if quotes % 2 == 0:
            cells.append(b";".join(current))
            current, quotes = [], 0
    return cells


@pytest.mark.e2e
@pytest.mark.integration
def test_the_job_on_the_real_slice_exports_its_bytes(  # noqa: PLR0917 - fixtures
    sample: Path,
    records: list[list[str]],
    spark: Any,
    s3_lake: Any,
    mongo_uri: str,
    unique_name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The whole job over HTTP (emulator serving the real file), MinIO and the Mongo server.

    No real organizations export was found, so the organizations file is derived from the slice's
    own `organization_id`/`organization` cells, followers = datasets in the slice (ties by id).
    """
    from pymongo import MongoClient

    from common.settings import load_settings
    from common.storage import s3_client
    from emulators import datagouv as emulator
    from jobs.datagouv_catalog.job import run

    root = tmp_path / "catalogue"
    root.mkdir()
    (root / datagouv_data.DATASETS_FILE).write_bytes(sample.read_bytes())
    rows = by_id(records)
    counts: dict[tuple[str, str], int] = {}
    for row in rows.values():
        if row["organization_id"]:
            key = (row["organization_id"], row["organization"])
            counts[key] = counts.get(key, 0) + 1
    lines = ['"id";"name";"metric.followers"']
    lines += [f'"{i}";"{n.replace(chr(34), chr(34) * 2)}";{c}' for (i, n), c in sorted(counts.items())]
    (root / datagouv_data.ORGANIZATIONS_FILE).write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")

    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))[:30]
    top = {org_id: (name, followers) for (org_id, name), followers in ranked}
    ids = reference_ids(records)
    expected_docs = sorted(
        (
            {
                "dataset_id": i,
                "title": rows[i]["title"],
                "dataset_followers": int(rows[i]["metric.followers"] or 0),
                "organization": top[rows[i]["organization_id"]][0],
                "organization_id": rows[i]["organization_id"],
                "organization_followers": top[rows[i]["organization_id"]][1],
            }
            for i in ids
            if rows[i]["organization_id"] in top
        ),
        key=lambda d: d["dataset_id"],
    )
    with sample.open("rb") as fh:
        pieces = list(load.iter_records(fh))
    expected_export = pieces[0] + b"".join(p for p in pieces[1:] if load._first_cell(p) in ids)

    server = emulator.start(root)
    bucket, database, run_date = f"dg-{unique_name}", f"dg_{unique_name}", "2026-01-16"
    try:
        monkeypatch.setenv("DATAGOUV_API_URL", server.api_url)
        monkeypatch.setenv("DATAGOUV_BUCKET", bucket)
        settings = load_settings()
        summary = run(settings, run_date, mongo_uri=mongo_uri, database=database, spark=spark)
    finally:
        server.stop()
    assert summary.matching == MATCHING
    body = s3_client(settings).get_object(Bucket=bucket, Key=f"{run_date}/datasets.csv")["Body"].read()
    assert body == expected_export  # the source's bytes, cells and line breaks untouched

    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        docs = list(client[database]["tops"].find({"run_date": run_date}, {"_id": 0, "run_date": 0}))
        client.drop_database(database)
    finally:
        client.close()
    assert expected_docs and sorted(docs, key=lambda d: d["dataset_id"]) == expected_docs
    s3 = s3_client(settings)
    s3.delete_object(Bucket=bucket, Key=f"{run_date}/datasets.csv")
    s3.delete_bucket(Bucket=bucket)
