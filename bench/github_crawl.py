"""Benchmark of the GitHub crawl: Spark crawler vs a sequential crawler, on the emulator.

200 repositories, 60,000 commits (skewed), 50 ms latency per request. Measures:
- the crawl stage (listing + every commits page; Spark start-up excluded) against a one-request-
  at-a-time crawler of the same data run beside it (its own emulator instance, same settings);
- requests served against the minimum (list pages + sum of ceil(commits/100));
- a re-crawl with nothing new (requests per repository, 304s).
Writes bench/results/github_crawl.json.

    .venv/bin/python bench/github_crawl.py [--repos 200] [--commits 60000] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from common.logging import setup_logging
from common.settings import load_settings
from common.spark import get_spark
from emulators import github as emulator
from emulators.github_data import generate_org, load_commits, load_org
from jobs.github_contributors.job import run

log = logging.getLogger("bench.github_crawl")
ORG = "bench-org"
TOKEN = "bench-token-0001"


def sequential_crawl(base_url: str, org: str) -> dict[str, Any]:
    """The baseline: one request at a time, Link pagination, every repository to its last page."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    started = time.monotonic()
    requests_sent = 0
    commits = 0
    repos: list[str] = []
    url: str | None = f"{base_url}/orgs/{org}/repos?type=public&per_page=100"
    while url:
        resp = session.get(url, timeout=30)
        requests_sent += 1
        repos.extend(r["name"] for r in resp.json())
        url = resp.links.get("next", {}).get("url")
    for repo in repos:
        url = f"{base_url}/repos/{org}/{repo}/commits?per_page=100"
        while url:
            resp = session.get(url, timeout=30)
            requests_sent += 1
            if resp.status_code != 200:
                break
            commits += len(resp.json())
            url = resp.links.get("next", {}).get("url")
    return {"seconds": round(time.monotonic() - started, 2), "requests": requests_sent, "commits": commits}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--commits", type=int, default=60_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--skew", type=float, default=0.9)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "github_crawl.json")
    args = parser.parse_args()
    os.environ.setdefault("LOG_LEVEL", "INFO")
    setup_logging()

    work = Path(tempfile.mkdtemp(prefix="bench-github-"))
    generate_org(
        work / "data", ORG, repos=args.repos, commits=args.commits, seed=42, skew=args.skew, empty=0, gone=0
    )
    sizes = [len(load_commits(work / "data", ORG, r["name"])) for r in load_org(work / "data", ORG)["repos"]]
    minimum = math.ceil(args.repos / 100) + sum(math.ceil(n / 100) for n in sizes)

    job_api = emulator.start(work / "data", latency=args.latency, tokens=[TOKEN])
    baseline_api = emulator.start(work / "data", latency=args.latency, tokens=[TOKEN])
    settings = load_settings(lake_root=str(work / "lake"), github_api_url=job_api.url, github_token=TOKEN)
    spark = get_spark(settings, "bench-github-crawl")
    spark.conf.set("spark.sql.shuffle.partitions", "4")
    master = spark.sparkContext.master
    spark.sparkContext.parallelize(range(8), 2).count()  # Python workers up: part of start-up

    baseline: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: baseline.update(sequential_crawl(baseline_api.url, ORG)))
    load_before = load_average()
    thread.start()  # the sequential crawler runs beside the Spark crawl, against its own emulator
    job_api.reset_counters()
    first = run(spark, settings, ORG, date(2026, 11, 22), concurrency=args.concurrency, progress_seconds=5)
    crawl_stats = job_api.stats()
    thread.join()

    job_api.reset_counters()
    second = run(spark, settings, ORG, date(2026, 11, 22), concurrency=args.concurrency, progress_seconds=0)
    recrawl_stats = job_api.stats()
    # The baseline again, alone this time (nothing else of ours running), for a fair second figure.
    alone = sequential_crawl(baseline_api.url, ORG)
    job_api.stop()
    baseline_api.stop()
    spark.stop()

    crawl_seconds = first.list_seconds + first.crawl_seconds
    data_requests = crawl_stats["by_kind"].get("commits", 0) + crawl_stats["by_kind"].get("repos", 0)
    result = {
        "dataset": {
            "repos": args.repos,
            "commits": sum(sizes),
            "largest_repo_commits": max(sizes),
            "latency_s": args.latency,
        },
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        },
        "spark": {"master": master, "concurrency": args.concurrency},
        "crawl_stage_seconds": round(crawl_seconds, 2),
        "sequential_seconds": baseline["seconds"],
        "speedup": round(baseline["seconds"] / crawl_seconds, 2),
        "sequential_alone_seconds": alone["seconds"],
        "speedup_vs_alone": round(alone["seconds"] / crawl_seconds, 2),
        "work_items": first.items,
        "windows": first.windows,
        "repos_split": first.split_repos,
        "requests": {
            "minimum": minimum,
            "list_and_commits": data_requests,
            "rate_limit_probes": crawl_stats["by_kind"].get("rate_limit", 0),
            "all": crawl_stats["requests"],
            "above_minimum_pct": round(100.0 * (data_requests - minimum) / minimum, 2),
            "sequential": baseline["requests"],
        },
        "recrawl": {
            "commits_requests": recrawl_stats["by_kind"].get("commits", 0),
            "not_modified": recrawl_stats["not_modified"],
            "list_requests": recrawl_stats["by_kind"].get("repos", 0),
            "rate_limit_probes": recrawl_stats["by_kind"].get("rate_limit", 0),
            "per_repo": round(recrawl_stats["by_kind"].get("commits", 0) / args.repos, 3),
            "crawl_seconds": round(second.list_seconds + second.crawl_seconds, 2),
        },
        "write_seconds_first_run": round(first.write_seconds, 2),
        "commits_crawled": first.new_commits,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log.info("%s", json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
