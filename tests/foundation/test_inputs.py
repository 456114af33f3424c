"""common.inputs: the digest that lets a rerun on unchanged inputs skip its writes, and its record."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.inputs import Published, inputs_digest, source_digest
from common.settings import Settings
from common.storage import RawStore

pytestmark = pytest.mark.unit


def test_the_digest_follows_the_inputs_and_the_sources_not_other_files(tmp_path: Path) -> None:
    code = tmp_path / "job"
    code.mkdir()
    (code / "transform.py").write_text("X = 1\n")
    (code / "notes.txt").write_text("not code")
    first = inputs_digest({"days": ["2026-03-02"], "wiki": "enwiki"}, [code])
    assert inputs_digest({"wiki": "enwiki", "days": ["2026-03-02"]}, [code]) == first  # key order
    assert inputs_digest({"days": ["2026-03-03"], "wiki": "enwiki"}, [code]) != first
    (code / "notes.txt").write_text("still not code")
    assert inputs_digest({"days": ["2026-03-02"], "wiki": "enwiki"}, [code]) == first
    (code / "transform.py").write_text("X = 2\n")
    assert inputs_digest({"days": ["2026-03-02"], "wiki": "enwiki"}, [code]) != first
    assert source_digest([tmp_path / "absent"]) == source_digest([])


def test_a_record_holds_only_tables_exactly_as_it_left_them(tmp_path: Path) -> None:
    store = RawStore(Settings(lake_root=str(tmp_path / "lake")), "raw", "job")
    assert Published.read(store, "state/x.json") is None
    record = Published("r", "i", {"a/b": 3, "a/c": 0}, "run-1")
    record.write(store, "state/x.json")
    again = Published.read(store, "state/x.json")
    assert again == record
    assert record.holds({"a/b": 3, "a/c": 0})
    assert not record.holds({"a/b": 4, "a/c": 0})  # written since
    assert not record.holds({"a/b": 3})  # a table gone
    assert not Published("r", "i", {"a/b": None}, None).holds({"a/b": None})  # never written
    store.write_text("state/bad.json", "{not json")
    assert Published.read(store, "state/bad.json") is None
