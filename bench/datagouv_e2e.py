"""Benchmark: the data.gouv.fr job as a whole process beside a pandas pipeline doing the same work.

A generated catalogue of 60,000 datasets and 6,000 organizations (~250 MB) is served by the
emulator. Each round runs, one after the other and in alternating order, the job exactly as a user
runs it (`python -m jobs.datagouv_catalog`: download, Spark read + match, CSV export to MinIO,
Delta, MongoDB; Spark start-up included) and `bench/datagouv_pandas.py` (download, match, CSV,
top 30, documents). The result holds, per side, the median wall time, the CPU seconds of the
whole process tree (JVM and Python workers included: this process reaps them as a subreaper),
the peak RSS, and the job's own stage breakdown; the answers are checked equal (matching count,
the Mongo documents against pandas' documents). Target (issue 16): the job at most 2.5x pandas.

The machine is shared, so load averages are recorded; interleaving keeps both sides under the
same load, and the ratio of medians is the number to read.

    .venv/bin/python bench/datagouv_e2e.py [--datasets 60000] [--organizations 6000] [--runs 3]
Results: bench/results/datagouv_e2e.json. The catalogue is cached under bench/work/ (gitignored).
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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
TARGET_RATIO = 1.5  # issue 31: the whole job at most 1.5x pandas on MinIO and MongoDB
RUN_DATE = "2026-01-07"
PR_SET_CHILD_SUBREAPER = 36


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


def become_subreaper() -> None:
    """Orphaned descendants (the JVM, Python workers) become our children, so `reap` gets their
    CPU time too."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER)")


def reap(pid: int, deadline_s: float = 20.0) -> tuple[int, float, int]:
    """Wait for `pid`, then for every descendant it left behind (the JVM still shutting down):
    exit status of `pid`, CPU seconds of all of them (each rusage holds its reaped descendants),
    and the largest resident set among them in MiB."""
    _, status, usage = os.wait4(pid, 0)
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            orphan, _, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if orphan == 0:
            time.sleep(0.05)
            continue
        cpu, rss = cpu + usage.ru_utime + usage.ru_stime, max(rss, usage.ru_maxrss)
    return os.waitstatus_to_exitcode(status), cpu, rss // 1024


def timed(command: list[str], env: dict[str, str]) -> tuple[str, dict[str, float]]:
    """Run a process tree to its end: its stdout, wall time, CPU seconds, peak RSS of a process."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=err, text=True)
        code, cpu, rss = reap(proc.pid)
        wall = time.perf_counter() - started
        proc.returncode = code
        out.seek(0)
        err.seek(0)
        if code != 0:
            sys.stderr.write(err.read()[-4000:])
            raise SystemExit(f"{command[2]} failed with exit {code}")
        return out.read(), {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "max_rss_mib": rss}


def run_job(api_url: str, lake_root: str, bucket: str, database: str, summary: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        **services_env(),
        "LAKE_ROOT": lake_root,
        "DATAGOUV_API_URL": api_url,
        "DATAGOUV_BUCKET": bucket,
        "MONGO_DATABASE": database,
    }
    command = [
        sys.executable,
        "-m",
        "jobs.datagouv_catalog",
        "--run-date",
        RUN_DATE,
        "--summary-json",
        str(summary),
    ]
    _, measured = timed(command, env)
    return {**measured, "summary": json.loads(summary.read_text())}


def run_pandas(api_url: str, workdir: Path) -> dict[str, Any]:
    shutil.rmtree(workdir, ignore_errors=True)
    command = [sys.executable, str(ROOT / "bench" / "datagouv_pandas.py"), api_url, str(workdir)]
    stdout, measured = timed(command, dict(os.environ))
    shutil.rmtree(workdir, ignore_errors=True)
    return {**measured, "result": json.loads(stdout.strip().splitlines()[-1])}


def job_documents(database: str) -> list[dict[str, Any]]:
    from pymongo import MongoClient

    client: MongoClient[dict[str, Any]] = MongoClient(services_env()["MONGO_URI"])
    try:
        docs = list(client[database]["tops"].find({"run_date": RUN_DATE}, {"_id": 0, "run_date": 0}))
    finally:
        client.close()
    return sorted(docs, key=lambda d: d["dataset_id"])


def median_stages(runs: list[dict[str, float]]) -> dict[str, float]:
    names = {name for stages in runs for name in stages}
    return {n: round(statistics.median(s.get(n, 0.0) for s in runs), 2) for n in sorted(names)}


def write_result(
    args: argparse.Namespace,
    size: int,
    jobs: list[dict[str, Any]],
    baselines: list[dict[str, Any]],
    load_before: list[float],
) -> dict[str, Any]:
    """The result of the rounds done so far (written after each round: a long run keeps its data)."""
    job_wall = statistics.median(r["wall_s"] for r in jobs)
    pandas_wall = statistics.median(r["wall_s"] for r in baselines)
    settings = load_settings()
    result = {
        "benchmark": "datagouv_e2e",
        "datasets": args.datasets,
        "organizations": args.organizations,
        "catalogue_bytes": size,
        "lake": "minio" if args.s3_lake else "local",
        "runs": len(jobs),
        "job_wall_s_median": job_wall,
        "pandas_wall_s_median": pandas_wall,
        "ratio": round(job_wall / pandas_wall, 2),
        "target_ratio": TARGET_RATIO,
        "meets_target": job_wall / pandas_wall <= TARGET_RATIO,
        "job_cpu_s_median": statistics.median(r["cpu_s"] for r in jobs),
        "pandas_cpu_s_median": statistics.median(r["cpu_s"] for r in baselines),
        "job_stages_s_median": median_stages([r["summary"]["stages"] for r in jobs]),
        "pandas_stages_s_median": median_stages([r["result"]["stages"] for r in baselines]),
        "matching": jobs[-1]["summary"]["matching"],
        "tops": jobs[-1]["summary"]["tops"],
        "memory": {
            "spark_master": settings.spark_master or "local[*]",
            "spark_driver_memory": settings.spark_driver_memory,
            "executor": "the driver JVM (local mode: one JVM, executors are its threads)",
            "job_max_rss_mib": max(r["max_rss_mib"] for r in jobs),
            "pandas_max_rss_mib": max(r["max_rss_mib"] for r in baselines),
        },
        "job_runs": [
            {k: v for k, v in r.items() if k != "summary"} | {"stages_s": r["summary"]["stages"]}
            for r in jobs
        ],
        "pandas_runs": [
            {k: v for k, v in r.items() if k != "result"} | {"stages_s": r["result"]["stages"]}
            for r in baselines
        ],
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
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=60000)
    parser.add_argument("--organizations", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--s3-lake", action="store_true", help="LAKE_ROOT on MinIO instead of local disk")
    args = parser.parse_args()

    root = catalogue(args.datasets, args.organizations)
    size = (root / DATASETS_FILE).stat().st_size + (root / ORGANIZATIONS_FILE).stat().st_size
    tag = uuid.uuid4().hex[:8]
    lake = WORK / "lake"
    become_subreaper()
    load_before = load_average()
    server = emulator.start(root)
    database = f"bench_datagouv_{tag}"
    jobs: list[dict[str, Any]] = []
    baselines: list[dict[str, Any]] = []
    try:
        for i in range(args.runs):
            shutil.rmtree(lake, ignore_errors=True)  # every run downloads again
            lake_root = f"s3a://bench-lake/datagouv-{tag}-{i}" if args.s3_lake else str(lake)
            order = ("pandas", "job") if i % 2 == 0 else ("job", "pandas")
            for side in order:
                if side == "pandas":
                    baselines.append(run_pandas(server.api_url, WORK / "pandas"))
                    print(f"run {i + 1} pandas: {baselines[-1]['wall_s']:.1f}s", file=sys.stderr)
                else:
                    summary_path = WORK / "summary.json"
                    jobs.append(
                        run_job(server.api_url, lake_root, f"bench-datagouv-{tag}", database, summary_path)
                    )
                    stages = jobs[-1]["summary"]["stages"]
                    print(f"run {i + 1} job: {jobs[-1]['wall_s']:.1f}s {stages}", file=sys.stderr)
            expected = baselines[-1]["result"]
            got = jobs[-1]["summary"]
            if (got["matching"], got["tops"]) != (expected["matching"], expected["tops"]):
                raise SystemExit(f"answers differ: job {got['matching']}/{got['tops']}, pandas {expected}")
            if job_documents(database) != sorted(expected["documents"], key=lambda d: d["dataset_id"]):
                raise SystemExit("the job's Mongo documents differ from pandas' documents")
            result = write_result(args, size, jobs, baselines, load_before)
    finally:
        server.stop()
        from pymongo import MongoClient

        client: MongoClient[dict[str, Any]] = MongoClient(services_env()["MONGO_URI"])
        client.drop_database(database)
        client.close()
        cleanup_s3(f"bench-datagouv-{tag}", "", drop_bucket=True)
        if args.s3_lake:
            cleanup_s3("bench-lake", f"datagouv-{tag}-")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
