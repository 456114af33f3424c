"""The pageviews aggregation on the standalone cluster (scripts/cluster.sh): 1 worker, then 2.

Same files and same work as bench/wikimedia_aggregate.py (its generated hourly files, its timed
pass), read from MinIO over S3A since the workers do not see the checkout. One application per
configuration, capped with `spark.cores.max` (1 core = one executor on one worker; 2 = one on
each). Session start-up and the executors' first fetch of the jars are excluded: a whole pass is
run and discarded first. Writes bench/results/wikimedia_cluster.json.

    .venv/bin/python -m bench.wikimedia_cluster [--files 24] [--lines 1000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.results_file import write_result  # noqa: E402
from bench.wikimedia_aggregate import bench_files, time_spark  # noqa: E402
from common.settings import Settings, load_settings  # noqa: E402
from common.storage import ensure_bucket, s3_client  # noqa: E402

log = logging.getLogger("bench.wikimedia_cluster")
RESULT = ROOT / "bench" / "results" / "wikimedia_cluster.json"
CLUSTER = ROOT / "scripts" / "cluster.sh"
BUCKET = "bench-wikimedia"


def cluster_env() -> tuple[dict[str, str], bool]:
    """The cluster's settings (cluster.env), starting it when it is not up; True if started here."""
    started = False
    proc = subprocess.run([str(CLUSTER), "status"], capture_output=True, text=True, check=False)
    if "master up" not in proc.stdout or "down" in proc.stdout:
        subprocess.run([str(CLUSTER), "start"], check=True)
        started = True
    out = subprocess.run([str(CLUSTER), "env"], capture_output=True, text=True, check=True).stdout
    return dict(line.split("=", 1) for line in out.split()), started


def lake_settings(endpoint: str, master: str | None = None) -> Settings:
    return load_settings(
        lake_root=f"s3a://{BUCKET}/lake",
        s3_endpoint_url=endpoint,
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "minioadmin"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "miniopassword"),
        spark_master=master,
        spark_driver_memory="1g",
    )


def upload(by_day: dict[date, list[str]], settings: Settings) -> dict[date, list[str]]:
    """The bench files on MinIO (uploaded once), as s3a:// URIs grouped the same way."""
    ensure_bucket(settings, BUCKET)
    client = s3_client(settings)
    out: dict[date, list[str]] = {}
    for day, paths in by_day.items():
        for path in paths:
            key = "files/" + "/".join(Path(path).parts[-2:])
            size = Path(path).stat().st_size
            try:
                there = client.head_object(Bucket=BUCKET, Key=key)["ContentLength"]
            except client.exceptions.ClientError:
                there = -1
            if there != size:
                client.upload_file(path, BUCKET, key)
            out.setdefault(day, []).append(f"s3a://{BUCKET}/{key}")
    return out


def measure(cores: int, args: argparse.Namespace, endpoint: str, master: str) -> dict[str, object]:
    """One application capped at `cores` cores: a discarded pass, then `repeat` timed ones."""
    from common.spark import get_spark
    from jobs.wikimedia_pageviews.job import tune_session

    settings = lake_settings(endpoint, master)
    by_day = upload(bench_files(args.files, args.lines), settings)
    os.environ.setdefault("SPARK_LOG_LEVEL", "ERROR")
    os.environ["PYSPARK_SUBMIT_ARGS"] = f"--conf spark.cores.max={cores} pyspark-shell"
    spark = get_spark(settings, f"bench-wikimedia-cluster-{cores}")
    spark.conf.set("spark.sql.shuffle.partitions", str(cores * 2))
    tune_session(spark)
    time_spark(spark, by_day)  # warm-up: JIT, heap growth, the executors' jar fetch
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1  # less the driver
    runs, check = [], (0, 0)
    for i in range(args.repeat):
        elapsed, rows, total = time_spark(spark, by_day)
        runs.append(elapsed)
        check = (rows, total)
        log.info("%d core(s), run %d: %.2f s", cores, i + 1, elapsed)
    spark.stop()
    return {
        "executors": executors,
        "runs_seconds": [round(x, 3) for x in runs],
        "groups_and_views": list(check),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--measure", type=int, default=None, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    values, started = cluster_env() if args.measure is None else (dict(os.environ), False)

    if args.measure is not None:
        result = measure(args.measure, args, values["BENCH_S3"], values["BENCH_MASTER"])
        print(json.dumps(result))
        return

    load_before = os.getloadavg()
    results: dict[int, dict[str, object]] = {}
    try:
        for cores in (1, 2):
            # One process per application: a fresh driver JVM with its own spark.cores.max.
            env = {
                **os.environ,
                "BENCH_S3": values["CLUSTER_S3_ENDPOINT_URL"],
                "BENCH_MASTER": values["SPARK_MASTER"],
            }
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.wikimedia_cluster",
                    "--measure",
                    str(cores),
                    "--files",
                    str(args.files),
                    "--lines",
                    str(args.lines),
                    "--repeat",
                    str(args.repeat),
                ],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if out.returncode != 0:
                sys.exit(f"the {cores}-core run failed:\n{out.stderr[-3000:]}")
            results[cores] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        if started:
            subprocess.run([str(CLUSTER), "stop"], check=False)

    median = {c: statistics.median(r["runs_seconds"]) for c, r in results.items()}  # type: ignore[arg-type]
    result = {
        "files": args.files,
        "lines_per_file": args.lines,
        "input": f"s3a://{BUCKET}/files (MinIO, reached by the workers through the cluster's relay)",
        "cluster": f"{values['SPARK_MASTER']} ({values['CLUSTER_NET']}): workers of 1 core / 2 GB, "
        "executors of 1 core / 1 GB",
        "workers": {str(c): r for c, r in results.items()},
        "median_seconds": {str(c): round(v, 3) for c, v in median.items()},
        "speedup_2_vs_1": round(median[1] / median[2], 2),
        "scaling_efficiency": round(median[1] / median[2] / 2, 2),
        "same_answer": results[1]["groups_and_views"] == results[2]["groups_and_views"],
        "machine_cores": os.cpu_count(),
    }
    write_result(RESULT, result, load_before)


if __name__ == "__main__":
    main()
