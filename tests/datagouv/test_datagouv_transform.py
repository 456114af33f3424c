"""The matcher and the top-30 ranking, as pure transforms on small inline frames."""

from __future__ import annotations

from typing import Any

import pytest
from chispa import assert_df_equality
from hypothesis import given, settings
from hypothesis import strategies as st_h
from pyspark.sql import types as st

from jobs.datagouv_catalog.transform import (
    match_mobility,
    mentions_mobility,
    reference_match,
    top_organizations,
    tops,
)

DATASET_SCHEMA = st.StructType(
    [
        st.StructField("id", st.StringType()),
        st.StructField("title", st.StringType()),
        st.StructField("description", st.StringType()),
        st.StructField("tags", st.StringType()),
        st.StructField("organization_id", st.StringType()),
        st.StructField("metric.followers", st.StringType()),
    ]
)
ORG_SCHEMA = st.StructType(
    [
        st.StructField("id", st.StringType()),
        st.StructField("name", st.StringType()),
        st.StructField("metric.followers", st.StringType()),
    ]
)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mobilité durable", True),
        ("MOBILITÉ", True),
        ("Plan de MOBILITE", True),
        ("Transports en commun", True),
        ("TRANSPORT", True),
        ("immobilité", True),  # substring match, as the contract says
        ("ｍｏｂｉｌｉｔｅ", True),  # full-width letters: NFKD makes them ASCII
        ("mobilit", False),
        ("transpor", False),
        ("mobilier urbain", False),
        ("trans-port", False),
        ("mobilıte", False),  # dotless i is a different letter
        ("", False),
    ],
)
def test_mentions_mobility(text: str, expected: bool) -> None:
    assert mentions_mobility(text) is expected


@pytest.mark.unit
def test_mentions_mobility_any_field_and_nulls() -> None:
    assert mentions_mobility(None, None, "velo,mobilite-douce")
    assert not mentions_mobility(None, "budget", None)


@pytest.mark.unit
def test_match_mobility_title_description_tags(spark: Any) -> None:
    rows = [
        ("d1", "Mobilité douce", "rien", None, "o1", "3"),
        ("d2", "Budget", "Les TRANSPORTS\nscolaires; 2024", "", "o1", "1"),
        ("d3", "Budget", "texte", "eau,transport-public", None, "0"),
        ("d4", "Mobilier urbain", "mobilit; transpor", "mobile", "o2", "9"),
        ("d5", None, None, None, "o2", None),
        ("d6", "Écoles", "« Mobilités » du quotidien", "education", "o2", "2"),
    ]
    source = spark.createDataFrame(rows, DATASET_SCHEMA)
    expected = spark.createDataFrame([rows[0], rows[1], rows[2], rows[5]], DATASET_SCHEMA)
    # chispa's row-order option cannot sort dotted names: order by id explicitly.
    assert_df_equality(match_mobility(source).orderBy("id"), expected.orderBy("id"))


TOP_SCHEMA = st.StructType(
    [
        st.StructField("organization_id", st.StringType()),
        st.StructField("organization", st.StringType()),
        st.StructField("organization_followers", st.LongType(), False),
        st.StructField("rank", st.IntegerType(), False),
    ]
)


@pytest.mark.unit
def test_top_organizations_tie_at_the_boundary_goes_to_smaller_id(spark: Any) -> None:
    # 29 clear leaders, then four organizations tied for ranks 30..33: only the smallest id enters.
    leaders = [(f"a{i:02d}", f"Org {i}", str(1000 - i)) for i in range(29)]
    tied = [("z9", "Z9", "50"), ("m1", "M1", "50"), ("q5", "Q5", "50"), ("m0", "M0", "50")]
    tail = [("b1", "B1", "7"), ("b2", "B2", ""), ("b3", "B3", None)]
    orgs = spark.createDataFrame(leaders + tied + tail, ORG_SCHEMA)
    result = top_organizations(orgs)
    expected_rows = [(oid, name, int(f), i + 1) for i, (oid, name, f) in enumerate(leaders)]
    expected_rows.append(("m0", "M0", 50, 30))
    expected = spark.createDataFrame(expected_rows, TOP_SCHEMA)
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.unit
def test_top_organizations_counts_empty_followers_as_zero(spark: Any) -> None:
    orgs = spark.createDataFrame([("x", "X", ""), ("y", "Y", "2"), ("w", "W", None)], ORG_SCHEMA)
    expected = spark.createDataFrame([("y", "Y", 2, 1), ("w", "W", 0, 2), ("x", "X", 0, 3)], TOP_SCHEMA)
    assert_df_equality(top_organizations(orgs, n=3), expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.unit
def test_tops_keeps_matching_datasets_of_top_organizations(spark: Any) -> None:
    matching = spark.createDataFrame(
        [
            ("d1", "Mobilité", "x", None, "o1", "12"),
            ("d2", "Transport", "x", None, "o2", "3"),  # o2 is not in the top
            ("d3", "Transport", "x", None, None, "4"),  # owned by a user
            ("d4", "Transport", "x", None, "o1", ""),
        ],
        DATASET_SCHEMA,
    )
    orgs = spark.createDataFrame([("o1", "Org 1", "90"), ("o2", "Org 2", "5")], ORG_SCHEMA)
    result = tops(matching, top_organizations(orgs, n=1), "2026-01-07")
    schema = st.StructType(
        [
            st.StructField("run_date", st.StringType(), False),
            st.StructField("dataset_id", st.StringType()),
            st.StructField("title", st.StringType()),
            st.StructField("dataset_followers", st.LongType(), False),
            st.StructField("organization", st.StringType()),
            st.StructField("organization_id", st.StringType()),
            st.StructField("organization_followers", st.LongType(), False),
        ]
    )
    expected = spark.createDataFrame(
        [
            ("2026-01-07", "d1", "Mobilité", 12, "Org 1", "o1", 90),
            ("2026-01-07", "d4", "Transport", 0, "Org 1", "o1", 90),
        ],
        schema,
    )
    assert_df_equality(result, expected, ignore_row_order=True, ignore_nullable=True)


_PIECES = [
    "mobilit",
    "e",
    "é",
    "É",
    "\u0301",
    "TRANS",
    "port",
    "ſ",
    "ﬆ",
    "™",
    "ĳ",
    "ｔ",
    "\U0001d42d",
    "ß",
    " ",
    "ı",
]


@pytest.mark.unit
@settings(max_examples=400, deadline=None)
@given(st_h.lists(st_h.one_of(st_h.sampled_from(_PIECES), st_h.text(max_size=3)), max_size=12))
def test_fast_matcher_equals_the_definition(parts: list[str]) -> None:
    text = "".join(parts)
    assert mentions_mobility(text) is reference_match(text)
