"""Schemas of the lake's tables written in one line each (`struct`), and their additive changes:
new nullable columns, old rows null in them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from common.storage import is_delta

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
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


def local_frame(spark: SparkSession, rows: Iterable[Sequence[Any]], schema: StructType) -> DataFrame:
    """A DataFrame of rows the driver holds (a listing, a few dates), built in the JVM from Arrow.

    `createDataFrame` of a list converts its rows in Python workers: the first such frame of a
    run starts them, half a second to a second of a short job's critical path, for a few rows.
    Timestamps are UTC instants (naive ones are read as UTC, the session's zone).
    """
    import pyarrow as pa
    from pyspark.sql.pandas.types import to_arrow_schema

    names = schema.fieldNames()
    table = pa.Table.from_pylist(
        [dict(zip(names, row, strict=True)) for row in rows], schema=to_arrow_schema(schema, timezone="UTC")
    )
    return spark.createDataFrame(table)
