"""The one Spark session factory: local mode by default, cluster mode under spark-submit.

Delta and S3A jars come from the project's `jars/` folder (filled once by `make setup` from Maven
Central, beside the project's own `pageviews` source built from jvm/), so a job starts offline and
never resolves packages through Ivy.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from common.errors import ConfigError
from common.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOG4J2_CONF = Path(__file__).resolve().parent / "log4j2.properties"
# dataplatform-pageviews is the project's own (jvm/, built by scripts/build_jvm.sh).
REQUIRED_JARS = ("delta-spark_", "delta-storage-", "hadoop-aws-", "bundle-", "dataplatform-pageviews")


def jars_dir() -> Path:
    return Path(os.environ.get("SPARK_JARS_DIR", PROJECT_ROOT / "jars"))


def local_jars() -> list[str]:
    """The jar files to put on `spark.jars`; fails with a clear line when setup was not run."""
    folder = jars_dir()
    jars = sorted(str(p) for p in folder.glob("*.jar")) if folder.is_dir() else []
    missing = [prefix for prefix in REQUIRED_JARS if not any(Path(j).name.startswith(prefix) for j in jars)]
    if missing:
        raise ConfigError("SPARK_JARS_DIR", f"{folder} lacks {', '.join(missing)}*.jar (run `make setup`)")
    return jars


def under_spark_submit() -> bool:
    """spark-submit (and the operator) starts the JVM first and hands Python its gateway port."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def s3a_conf(settings: Settings) -> dict[str, str]:
    """S3A settings for MinIO/S3: path-style, region for SDK v2, simple credentials."""
    conf = {
        "spark.hadoop.fs.s3a.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",
        "spark.hadoop.fs.s3a.endpoint.region": settings.aws_region,
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.connection.timeout": "20000",
        "spark.hadoop.fs.s3a.attempts.maximum": "5",
        "spark.hadoop.fs.s3a.retry.limit": "5",
    }
    if settings.s3_endpoint_url:
        conf["spark.hadoop.fs.s3a.endpoint"] = settings.s3_endpoint_url
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(
            settings.s3_endpoint_url.startswith("https://")
        ).lower()
    if settings.aws_access_key_id and settings.aws_secret_access_key is not None:
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        )
        conf["spark.hadoop.fs.s3a.access.key"] = settings.aws_access_key_id
        conf["spark.hadoop.fs.s3a.secret.key"] = settings.aws_secret_access_key.get_secret_value()
    return conf


def build_conf(settings: Settings, app_name: str) -> dict[str, str]:
    """Every Spark setting the factory applies, as a plain dict (testable without a JVM)."""
    conf: dict[str, str] = {
        "spark.app.name": app_name,
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.adaptive.enabled": "true",
        # Partition overwrite by replaceWhere only; never drop a whole table by accident.
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Tables the API reads with delta-rs stay on features it supports.
        "spark.databricks.delta.properties.defaults.enableDeletionVectors": "false",
        # Python workers import the project's modules (jobs.*, common.*) by name, also when the
        # driver was started by spark-submit from a file path.
        "spark.executorEnv.PYTHONPATH": os.pathsep.join(
            p for p in (str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")) if p
        ),
        **s3a_conf(settings),
    }
    if not under_spark_submit():
        cores = os.cpu_count() or 2
        conf.update(
            {
                "spark.master": settings.spark_master or "local[*]",
                # On the JVM's launch classpath rather than spark.jars: in local mode the driver is
                # the executor, and spark.jars would copy the 700 MB AWS bundle at every start.
                "spark.driver.extraClassPath": os.pathsep.join(local_jars()),
                "spark.driver.memory": settings.spark_driver_memory,
                "spark.sql.shuffle.partitions": str(max(4, cores * 2)),
                "spark.ui.enabled": os.environ.get("SPARK_UI_ENABLED", "false"),
                "spark.ui.showConsoleProgress": "false",
                "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG4J2_CONF}",
            }
        )
    return conf


def get_spark(settings: Settings, app_name: str) -> SparkSession:
    """Create (or reuse) the job's SparkSession with Delta and S3A configured."""
    from pyspark.sql import SparkSession

    if not under_spark_submit():
        # A laptop's hostname often resolves to loopback: say so instead of warning about it.
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        # Python workers run the driver's interpreter (the project's virtualenv), not whatever
        # `python3` is first on PATH and may lack our dependencies (pyspark reads only this).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder
    for key, value in build_conf(settings, app_name).items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    log.info("spark %s master=%s", spark.version, spark.sparkContext.master)
    return spark
