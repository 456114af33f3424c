"""Reading the exports' dialect with Spark, and the byte-exact CSV export of the matching records."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from common.errors import SourceError
from common.settings import load_settings
from emulators.datagouv_data import generate, matching_records, parse_csv_text
from jobs.datagouv_catalog.extract import (
    pick_export,
    read_export,
    read_header,
    require_columns,
    site_base,
    split_parts,
    unique_names,
)
from jobs.datagouv_catalog.load import export_matching, iter_records
from jobs.datagouv_catalog.transform import match_mobility

# Multi-line cells (with \r\n and \n inside), `;` inside quotes, doubled quotes, bare numbers and
# booleans, an empty cell, leading spaces, a duplicated header name.
TRICKY = (
    '"id";"title";"description";"tags";"organization_id";"metric.followers";"metric.followers"\r\n'
    '"d1";"Mobilité; douce";"ligne 1\r\nligne 2 ""citée""; fin";"velo,eau";"o1";12;True\r\n'
    '"d2";"  Budget ";"a\nb";;"o1";0;False\r\n'
    '"d3";"Transports ""en"" commun";"";"transport";;7;\r\n'
    '"d4";"Eau";"""quoted"" start\r\n\r\nand ; end""";"";"o2";3;True\r\n'
)


def _write(tmp_path: Path, text: str, name: str = "datasets.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


@pytest.mark.unit
def test_spark_reads_the_dialect_by_header_name(spark: Any, tmp_path: Path) -> None:
    path = _write(tmp_path, TRICKY)
    settings = load_settings(lake_root=str(tmp_path))
    header = read_header(str(path), settings)
    assert header[-2:] == ["metric.followers", "metric.followers"]
    frame = read_export(spark, str(path), header)
    assert frame.columns[-2:] == ["metric.followers", "metric.followers__2"]
    rows = {r["id"]: r.asDict() for r in frame.collect()}
    assert set(rows) == {"d1", "d2", "d3", "d4"}
    assert rows["d1"]["title"] == "Mobilité; douce"
    # Spark normalises the line end inside quotes; the export below keeps the original bytes.
    assert rows["d1"]["description"].replace("\r\n", "\n") == 'ligne 1\nligne 2 "citée"; fin'
    assert rows["d1"]["metric.followers"] == "12"
    assert rows["d1"]["metric.followers__2"] == "True"
    assert rows["d2"]["title"] == "  Budget "
    assert rows["d3"]["title"] == 'Transports "en" commun'
    assert rows["d3"]["organization_id"] is None
    matched = sorted(r["id"] for r in match_mobility(frame).collect())
    assert matched == ["d1", "d3"]


@pytest.mark.unit
def test_missing_required_column_names_it() -> None:
    with pytest.raises(SourceError, match="lacks the required column 'tags'"):
        require_columns(["id", "title", "description"], ["id", "title", "tags"], "datasets")


@pytest.mark.unit
def test_unique_names_renames_repeats_only() -> None:
    assert unique_names(["a", "b", "a", "a"]) == ["a", "b", "a__2", "a__3"]


@pytest.mark.unit
def test_iter_records_follows_quotes_across_lines() -> None:
    records = list(iter_records(io.BytesIO(TRICKY.encode())))
    assert len(records) == 5
    assert b"".join(records) == TRICKY.encode()
    assert records[1].startswith(b'"d1"') and records[1].endswith(b"True\r\n")


@pytest.mark.unit
def test_export_copies_matching_records_byte_for_byte(tmp_path: Path) -> None:
    source = _write(tmp_path, TRICKY)
    target = tmp_path / "out.csv"
    assert export_matching(source, target, {"d1", "d3"}) == 2
    lines = TRICKY.encode().split(b"\r\n")
    # header, d1 (two physical lines), d3
    expected = b"\r\n".join([lines[0], lines[1], lines[2], lines[4]]) + b"\r\n"
    assert target.read_bytes() == expected


@pytest.mark.unit
def test_export_cells_equal_source_cells_on_generated_catalogue(spark: Any, tmp_path: Path) -> None:
    root = tmp_path / "cat"
    generate(root, 300, 40, seed=3, description_size=400, match_rate=0.3)
    source = root / "export-dataset.csv"
    settings = load_settings(lake_root=str(tmp_path))
    frame = read_export(spark, str(source), read_header(str(source), settings))
    ids = {r["id"] for r in match_mobility(frame).select("id").collect()}
    target = tmp_path / "out.csv"
    written = export_matching(source, target, ids)
    assert written == len(ids) > 0
    exported = parse_csv_text(target.read_bytes().decode("utf-8"))
    assert exported == matching_records(root)  # independent Python reading of the source


@pytest.mark.unit
def test_site_base_and_pick_export() -> None:
    assert site_base("https://www.data.gouv.fr/api/1") == "https://www.data.gouv.fr"
    assert site_base("http://127.0.0.1:8002/api/1/") == "http://127.0.0.1:8002"
    ds = {"csv-export:model": "dataset"}
    resources = [
        {"url": "u-old", "format": "csv", "last_modified": "2019-01-01", "extras": ds},
        {"url": "u-new", "format": "csv", "last_modified": "2026-01-06", "extras": ds},
        {"url": "u-json", "format": "json", "last_modified": "2027-01-01", "extras": ds},
        {"url": "u-org", "format": "csv", "extras": {"csv-export:model": "organization"}},
        {"url": "u-none", "format": "csv"},
    ]
    assert pick_export(resources, "dataset") == "u-new"
    assert pick_export(resources, "organization") == "u-org"
    assert pick_export(resources, "reuse") is None


@pytest.mark.unit
def test_split_parts_cuts_at_record_boundaries(tmp_path: Path) -> None:
    root = tmp_path / "cat"
    generate(root, 200, 10, seed=5, description_size=500)
    source = root / "export-dataset.csv"
    data = source.read_bytes()
    parts = split_parts(source, tmp_path, part_bytes=len(data) // 5 + 1)
    assert len(parts) == 5
    header = data.split(b"\r\n", 1)[0] + b"\r\n"
    body = b""
    for i, part in enumerate(parts):
        blob = part.read_bytes()
        assert blob.startswith(header)
        records = list(iter_records(io.BytesIO(blob)))
        assert all(r.startswith(b'"') and r.endswith(b"\r\n") for r in records)
        body += blob if i == 0 else blob[len(header) :]
    assert body == data
