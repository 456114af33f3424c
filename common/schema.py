"""Schemas of the lake's tables written in one line each (`struct`), and their additive changes:
new nullable columns, old rows null in them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from common.storage import is_delta

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType


def add_missing_columns(spark: SparkSession, path: str, schema: StructType) -> None:
    """Give an existing table the columns of `schema` it lacks (nullable, at the end).

    A MERGE or a replaceWhere overwrite refuses rows wider than the table; a job that gained a
    column calls this before writing, so a lake written by an older version keeps working.
    """
    if not is_delta(spark, path):
        return
    have = set(spark.read.format("delta").load(path).columns)
    missing = [f for f in schema.fields if f.name not in have]
    if missing:
        columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in missing)
        spark.sql(f"ALTER TABLE delta.`{path}` ADD COLUMNS ({columns})")


def struct(spec: str) -> StructType:
    """`"org string!, repo string, views long"` as a StructType, `!` marking a column never null
    (DDL's NOT NULL, parsed here: a module's schema needs no JVM at import)."""
    from pyspark.sql import types

    kinds = {
        "string": types.StringType,
        "long": types.LongType,
        "int": types.IntegerType,
        "double": types.DoubleType,
        "boolean": types.BooleanType,
        "date": types.DateType,
        "timestamp": types.TimestampType,
    }
    fields = []
    for column in spec.split(","):
        name, kind = column.split()
        fields.append(types.StructField(name, kinds[kind.rstrip("!")](), nullable=not kind.endswith("!")))
    return types.StructType(fields)
