"""Benchmark: the data.gouv.fr job end to end on a generated catalogue of 60,000 datasets and
6,000 organizations (~250 MB), served by the emulator: download, Spark read + match, export to
MinIO, Delta, MongoDB. Target: under 60 s wall time, Spark start-up included.

The job runs as a subprocess exactly as a user runs it (`python -m jobs.datagouv_catalog`); the
emulator serves from this process. The machine is shared, so a bare Spark start-up (session +
one trivial job) is measured right before as the baseline, and the load average is recorded.

    .venv/bin/python bench/datagouv_e2e.py [--datasets 60000] [--organizations 6000] [--runs 1]
Results: bench/results/datagouv_e2e.json. The catalogue is cached under bench/work/ (gitignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common.settings import load_settings  # noqa: E402
from common.storage import s3_client  # noqa: E402
from emulators import datagouv as emulator  # noqa: E402
from emulators.datagouv_data import DATASETS_FILE, ORGANIZATIONS_FILE, generate  # noqa: E402

WORK = ROOT / "bench" / "work" / "datagouv"
RESULT = ROOT / "bench" / "results" / "datagouv_e2e.json"
DESCRIPTION_SIZE = 3350  # ~250 MB for 60,000 datasets
BASELINE = """
import sys, time
t = time.perf_counter()
sys.path.insert(0, {root!r})
from common.settings import load_settings
from common.spark import get_spark
spark = get_spark(load_settings(lake_root={lake!r}), "baseline")
spark.range(1000).count()
print(time.perf_counter() - t)
spark.stop()
"""


def catalogue(n_datasets: int, n_orgs: int) -> Path:
    """The generated catalogue, reused when the same size was generated before."""
    root = WORK / f"catalogue-{n_datasets}-{n_orgs}"
    stamp = root / "params.json"
    params = {"datasets": n_datasets, "organizations": n_orgs, "description_size": DESCRIPTION_SIZE}
    if not (stamp.exists() and json.loads(stamp.read_text()) == params and (root / DATASETS_FILE).exists()):
        started = time.perf_counter()
        generate(root, n_datasets, n_orgs, description_size=DESCRIPTION_SIZE)
        stamp.write_text(json.dumps(params))
        print(f"generated catalogue in {time.perf_counter() - started:.1f}s", file=sys.stderr)
    return root


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def services_env() -> dict[str, str]:
    return {
        "S3_ENDPOINT_URL": os.environ.get("S3_ENDPOINT_URL", "http://127.0.0.1:9000"),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "minioadmin"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "miniopassword"),
        "MONGO_URI": os.environ.get("MONGO_URI", "mongodb://127.0.0.1:27017"),
    }


def cleanup_s3(bucket: str, prefix: str, *, drop_bucket: bool = False) -> None:
    """Remove what the benchmark wrote on the shared MinIO."""
    env = services_env()
    s3 = s3_client(
        load_settings(
            s3_endpoint_url=env["S3_ENDPOINT_URL"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
    )
    try:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys})
        if drop_bucket:
            s3.delete_bucket(Bucket=bucket)
    except Exception as exc:  # noqa: BLE001 - cleanup is best effort
        print(f"cleanup of s3://{bucket}/{prefix} failed: {exc}", file=sys.stderr)


def baseline_spark_start(lake: Path) -> float:
    code = BASELINE.format(root=str(ROOT), lake=str(lake))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT, timeout=600
    )
    return round(float(out.stdout.strip().splitlines()[-1]), 2)


def run_job(
    api_url: str, lake_root: str, bucket: str, database: str, summary: Path
) -> tuple[float, dict[str, Any]]:
    env = {
        **os.environ,
        **services_env(),
        "LAKE_ROOT": lake_root,
        "DATAGOUV_API_URL": api_url,
        "DATAGOUV_BUCKET": bucket,
        "MONGO_DATABASE": database,
    }
    started = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs.datagouv_catalog",
            "--run-date",
            "2026-01-07",
            "--summary-json",
            str(summary),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr[-4000:])
        raise SystemExit(f"job failed with exit {proc.returncode}")
    return round(wall, 2), json.loads(summary.read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=60000)
    parser.add_argument("--organizations", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--s3-lake", action="store_true", help="LAKE_ROOT on MinIO instead of local disk")
    args = parser.parse_args()

    root = catalogue(args.datasets, args.organizations)
    size = (root / DATASETS_FILE).stat().st_size + (root / ORGANIZATIONS_FILE).stat().st_size
    tag = uuid.uuid4().hex[:8]
    lake = WORK / "lake"
    load_before = load_average()
    baseline = baseline_spark_start(WORK / "baseline-lake")
    server = emulator.start(root)
    runs = []
    try:
        for i in range(args.runs):
            shutil.rmtree(lake, ignore_errors=True)  # every run downloads again
            lake_root = f"s3a://bench-lake/datagouv-{tag}-{i}" if args.s3_lake else str(lake)
            wall, summary = run_job(
                server.api_url,
                lake_root,
                f"bench-datagouv-{tag}",
                f"bench_datagouv_{tag}",
                WORK / "summary.json",
            )
            keep = ("matching", "tops", "downloaded_bytes")
            runs.append({"wall_s": wall, "stages_s": summary["stages"], **{k: summary[k] for k in keep}})
            print(f"run {i + 1}: {wall:.1f}s {summary['stages']}", file=sys.stderr)
    finally:
        server.stop()
        from pymongo import MongoClient

        client: MongoClient[dict[str, Any]] = MongoClient(services_env()["MONGO_URI"])
        client.drop_database(f"bench_datagouv_{tag}")
        client.close()
        cleanup_s3(f"bench-datagouv-{tag}", "", drop_bucket=True)
        if args.s3_lake:
            cleanup_s3("bench-lake", f"datagouv-{tag}-")
    best = min(r["wall_s"] for r in runs)
    result = {
        "benchmark": "datagouv_e2e",
        "datasets": args.datasets,
        "organizations": args.organizations,
        "catalogue_bytes": size,
        "lake": "minio" if args.s3_lake else "local",
        "target_s": 60,
        "best_wall_s": best,
        "meets_target": best < 60,
        "baseline_spark_start_s": baseline,
        "wall_over_baseline": round(best / baseline, 2),
        "runs": runs,
        "load_average_before": load_before,
        "load_average_after": load_average(),
        "cpus": os.cpu_count(),
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    if args.s3_lake and RESULT.exists():
        # The reference result is the local-lake one; a MinIO-lake run is kept beside it.
        previous = json.loads(RESULT.read_text())
        previous["minio_lake"] = result
        result = previous
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
