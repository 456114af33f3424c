"""Quality gates of a data.gouv.fr run (see common.gates), checked before the CSV object, the Delta
partition and the Mongo documents are published."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as sf

from common import gates
from common.gates import Violation, offending, planted
from jobs.datagouv_catalog.transform import TOP_N

JOB = "datagouv_catalog"
FOLLOWERS = ("dataset_followers", "organization_followers")


def datasets_in_export(tops: DataFrame, matching: DataFrame) -> Violation | None:
    """Every top dataset (a Mongo document) is one of the exported CSV's datasets (`matching.id`)."""
    exported = matching.select(sf.col("id").alias("dataset_id"))
    bad = tops.join(exported, "dataset_id", "left_anti")
    return offending("every Mongo document's dataset is in the CSV", bad, ["dataset_id"])


def at_most_top_n_organizations(tops: DataFrame, n: int = TOP_N) -> Violation | None:
    """The documents name at most `n` organizations."""
    organizations = tops.select("organization_id").distinct()
    if organizations.count() <= n:
        return None
    return offending(f"at most {n} organizations", organizations, ["organization_id"])


def integer_followers(tops: DataFrame) -> Violation | None:
    """Followers are whole numbers >= 0 (the documents store integers)."""
    problems = [sf.col(n).isNull() | (sf.col(n) < 0) | (sf.col(n) != sf.floor(sf.col(n))) for n in FOLLOWERS]
    bad = tops.where(problems[0] | problems[1])
    return offending("integer followers", bad, ["dataset_id"])


def audit(tops: DataFrame, matching: DataFrame) -> None:
    """Raise GateError (one line) unless every gate passes."""
    gates.audit(
        JOB,
        [
            lambda: datasets_in_export(tops, matching),
            lambda: at_most_top_n_organizations(tops),
            lambda: integer_followers(tops),
        ],
    )


def plant(fault: str | None, tops: DataFrame) -> DataFrame:
    """QUALITY_FAULT=datagouv_catalog.unknown_dataset: the first document names a dataset not exported."""
    if not planted(fault, JOB, "unknown_dataset"):
        return tops
    first = tops.select("dataset_id").orderBy("dataset_id").limit(1).collect()
    if not first:
        return tops
    hit = sf.col("dataset_id") == first[0]["dataset_id"]
    return tops.withColumn(
        "dataset_id", sf.when(hit, sf.lit("planted-unknown-dataset")).otherwise(sf.col("dataset_id"))
    )
