"""GET /wikipedia/days/{day} with the top articles' flags: 25 at most, shorter days, the unflagged one."""

from __future__ import annotations

from datetime import date
from typing import Any

import pyarrow as pa
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import ApiSettings
from common import tables
from emulators import lake_data

TOP = pa.schema(
    [
        ("wiki", pa.string()),
        ("day", pa.date32()),
        ("rank", pa.int32()),
        ("title", pa.string()),
        ("views", pa.int64()),
        ("mobile_share", pa.float64()),
        ("peak_hour_share", pa.float64()),
        ("views_vs_previous", pa.float64()),
        ("flags", pa.list_(pa.string())),
        ("suspicious", pa.bool_()),
    ]
)


def top_row(
    day: date, rank: int, title: str, views: int, flags: list[str], *, wiki: str = "enwiki"
) -> dict[str, Any]:
    return {
        "wiki": wiki,
        "day": day,
        "rank": rank,
        "title": title,
        "views": views,
        "mobile_share": 0.5,
        "peak_hour_share": 0.1 if not flags else 0.9,
        "views_vs_previous": None,
        "flags": flags,
        "suspicious": bool(flags),
    }


@pytest.fixture
def client(filled_settings: ApiSettings) -> TestClient:
    day = date(2024, 3, 1)
    rows = [top_row(day, 1, "Dog_(animal)", 1000, ["peak_hour", "mobile_share"])]
    rows += [top_row(day, 2, "Cat", 900, ["spike"])]
    rows += [top_row(day, r, f"Article_{r:03d}", 1000 - 10 * r, []) for r in range(3, 101)]
    rows += [top_row(date(2024, 3, 1), 1, "Hund", 50, [], wiki="dewiki")]
    lake_data.write(filled_settings, tables.WIKI_TOP_ARTICLES, TOP, rows)
    return TestClient(create_app(filled_settings))


def test_day_adds_top_25_and_the_most_requested_unflagged(client: TestClient) -> None:
    body = client.get("/wikipedia/days/2024-03-01").json()
    assert body["most_requested"] == {"title": "Dog_(animal)", "views": 1000}  # unchanged
    assert len(body["top_categories"]) == 5
    assert [t["rank"] for t in body["top"]] == list(range(1, 26))
    assert body["top"][0] == {
        "rank": 1,
        "title": "Dog_(animal)",
        "views": 1000,
        "mobile_share": 0.5,
        "peak_hour_share": 0.9,
        "flags": ["peak_hour", "mobile_share"],
    }
    assert body["top"][2]["flags"] == []
    assert body["most_requested_unflagged"] == {"title": "Article_003", "views": 970}
    german = client.get("/wikipedia/days/2024-03-01?wiki=dewiki").json()
    assert [t["title"] for t in german["top"]] == ["Hund"]  # a shorter day has a shorter top
    assert german["most_requested_unflagged"] == {"title": "Hund", "views": 50}


def test_a_day_missing_from_the_top_table_has_an_empty_top(client: TestClient) -> None:
    body = client.get("/wikipedia/days/2024-03-02").json()
    assert (body["top"], body["most_requested_unflagged"]) == ([], None)
    assert body["least_requested"] == {"title": "Aardvark", "views": 1, "ties": 3}


def test_without_the_top_table_the_answer_keeps_the_contract_shape(filled_settings: ApiSettings) -> None:
    body = TestClient(create_app(filled_settings)).get("/wikipedia/days/2024-03-01").json()
    assert set(body) == {
        "day",
        "wiki",
        "hours",
        "complete",
        "most_requested",
        "least_requested",
        "top_categories",
    }


def test_errors_unchanged(client: TestClient) -> None:
    assert client.get("/wikipedia/days/2024-02-30").status_code == 422
    assert client.get("/wikipedia/days/2024-03-09").status_code == 404
