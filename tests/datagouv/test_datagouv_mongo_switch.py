"""MongoDB published whole or not at all: a run date's documents are staged, then switched in.

On the real MongoDB-protocol server of the tests (FerretDB), which lacks `dropTarget`: the switch
is two renames, and one cut between them is completed by the next run.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from common.errors import StorageError
from jobs.datagouv_catalog import load

pytestmark = pytest.mark.integration

OLD, NEW = "2026-01-07", "2026-01-14"


def _docs(run_date: str, count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "dataset_id": f"d{i:05d}",
            "title": f"{tag} {i}",
            "dataset_followers": i,
            "organization": "o",
            "organization_id": "oid",
            "organization_followers": 1,
            "run_date": run_date,
        }
        for i in range(count)
    ]


@pytest.fixture
def db(mongo_uri: str, unique_name: str) -> Iterator[Database[dict[str, Any]]]:
    client: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    yield client[unique_name]
    client.drop_database(unique_name)
    client.close()


def _held(db: Database[dict[str, Any]]) -> dict[str, list[str]]:
    """Each run date's titles in `tops`, in dataset order."""
    held: dict[str, list[str]] = {}
    for doc in db[load.COLLECTION].find({}, {"_id": 0}).sort([("run_date", 1), ("dataset_id", 1)]):
        held.setdefault(doc["run_date"], []).append(doc["title"])
    return held


def test_a_run_failing_midway_leaves_every_previous_document_and_the_next_run_switches_whole(
    mongo_uri: str, db: Database[dict[str, Any]]
) -> None:
    load.replace_run_date(mongo_uri, db.name, OLD, _docs(OLD, 30, "old"))
    load.replace_run_date(mongo_uri, db.name, NEW, _docs(NEW, 1500, "first"))
    before = _held(db)
    # The run's documents fail after more than a batch of them was written (a duplicate key
    # here; a server killed mid-write is the same for what readers see).
    failing = _docs(NEW, 2400, "second")
    failing[-1]["dataset_id"] = failing[0]["dataset_id"]
    with pytest.raises(StorageError, match="MongoDB stage"):
        load.replace_run_date(mongo_uri, db.name, NEW, failing)
    assert _held(db) == before, "readers saw part of a failed run"
    assert load.STAGING in db.list_collection_names()  # left by the failed run, until the next
    load.replace_run_date(mongo_uri, db.name, NEW, _docs(NEW, 20, "third"))
    after = _held(db)
    assert after[OLD] == before[OLD]  # other dates untouched
    assert after[NEW] == [f"third {i}" for i in range(20)]  # exactly this run's, no stale one
    assert set(db.list_collection_names()) == {load.COLLECTION}  # no staging or previous left
    index = db[load.COLLECTION].index_information()["run_date_dataset_id"]
    assert index.get("unique") is True


def test_a_switch_cut_between_its_renames_is_completed_by_the_next_run(
    mongo_uri: str, db: Database[dict[str, Any]]
) -> None:
    load.replace_run_date(mongo_uri, db.name, OLD, _docs(OLD, 10, "old"))
    # The state a switch leaves when cut after renaming `tops` aside (servers without dropTarget).
    db[load.COLLECTION].rename(load.PREVIOUS)
    load.replace_run_date(mongo_uri, db.name, NEW, _docs(NEW, 5, "new"))
    assert _held(db) == {OLD: [f"old {i}" for i in range(10)], NEW: [f"new {i}" for i in range(5)]}
    assert set(db.list_collection_names()) == {load.COLLECTION}
