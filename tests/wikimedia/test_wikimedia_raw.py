"""Landed raw files are opened through common.storage's S3 client (shared timeouts and retries)."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from common.settings import Settings
from common.storage import RawStore
from jobs.wikimedia_pageviews.extract import open_raw, read_header

pytestmark = pytest.mark.integration

DUMP = (
    b"-- MySQL dump\n"
    b"CREATE TABLE `page` (\n  `page_id` int(8) unsigned NOT NULL,\n"
    b"  `page_namespace` int(11) NOT NULL,\n  `page_title` varbinary(255) NOT NULL\n) ENGINE=InnoDB;\n"
    b"INSERT INTO `page` VALUES (1,0,'A'),(2,14,'B');\n"
)


@pytest.mark.parametrize("lake", ["local_lake", "s3_lake"])
def test_read_header_of_a_landed_dump(lake: str, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    settings: Settings = request.getfixturevalue(lake)
    local = tmp_path / "page.sql.gz"
    local.write_bytes(gzip.compress(DUMP))
    uri = RawStore(settings, "raw", "wikimedia").put(local, "xwiki/latest/xwiki-latest-page.sql.gz")
    assert read_header(uri, settings).columns == ("page_id", "page_namespace", "page_title")
    with open_raw(uri, settings) as stream:
        assert stream.read() == DUMP
