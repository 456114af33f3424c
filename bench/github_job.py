"""Benchmark: the whole GitHub job as a process, beside sequential baselines, on the emulator.

200 repositories, 60,000 commits (skewed), 50 ms latency per request. Each round, interleaved:
- `sequential`: a one-request-at-a-time crawler following `Link` (every repository to its last page);
- `first`: `python -m jobs.github_contributors` on an empty lake (Spark start-up, listing, crawl,
  MERGE, gold, crawl state: everything a user waits for);
- `conditional`: one conditional request per repository (its first page's ETag), sequentially;
- `recrawl`: the job again on the lake the first run left, nothing changed (every repository a 304;
  the job rewrites no table, checked by Delta versions);
- `changed`: the job again after 20 new commits on each of 3 repositories (the daily run of an
  org where a few repositories moved; the tables it rewrote are recorded; the data is then put
  back as it was, so every round crawls the same org).
Each job run's own summary line (where its wall time went) is kept. Medians compared; the
machine is shared, so the load average is recorded with the numbers.
Writes bench/results/github_job.json.

    .venv/bin/python bench/github_job.py [--repos 200] [--commits 60000] [--latency 0.05] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from bench.github_crawl import TOKEN, sequential_crawl  # noqa: E402
from emulators import github as emulator  # noqa: E402
from emulators.github_data import append_commits, generate_org, load_commits, load_org  # noqa: E402

log = logging.getLogger("bench.github_job")
ORG = "bench-org"
RUN_DATE = "2026-11-22"
RESULT = ROOT / "bench" / "results" / "github_job.json"
TARGETS = {"first_speedup_min": 4.0, "recrawl_ratio_max": 1.2, "requests_above_minimum_pct_max": 2.0}
SUMMARY_RE = re.compile(r"github_contributors org=\S+: .*")
TABLES = ("commits", "crawl_state", "new_contributors_monthly", "repositories", "contributors")


def conditional_loop(base_url: str, org: str, etags: dict[str, str]) -> dict[str, Any]:
    """The re-crawl baseline: the listing, then each repository's first page with its ETag."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    started = time.monotonic()
    not_modified = 0
    sent = 0
    for repo, etag in etags.items():
        resp = session.get(
            f"{base_url}/repos/{org}/{repo}/commits?per_page=100", headers={"If-None-Match": etag}, timeout=30
        )
        sent += 1
        not_modified += resp.status_code == 304
    return {"seconds": round(time.monotonic() - started, 2), "requests": sent, "not_modified": not_modified}


def first_page_etags(base_url: str, org: str, repos: list[str]) -> dict[str, str]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TOKEN}"
    out = {}
    for repo in repos:
        resp = session.get(f"{base_url}/repos/{org}/{repo}/commits?per_page=100", timeout=30)
        out[repo] = resp.headers.get("ETag", "")
    return out


def generate_bench_org(root: Path, repos: int, commits: int, skew: float) -> dict[str, int]:
    """The benchmark org under `root` (no empty or 404 repository): each repository's commits."""
    generate_org(root, ORG, repos=repos, commits=commits, seed=42, skew=skew, empty=0, gone=0)
    return {r["name"]: len(load_commits(root, ORG, r["name"])) for r in load_org(root, ORG)["repos"]}


def minimum_requests(sizes: dict[str, int]) -> int:
    """The fewest requests that crawl the org: the listing's pages and every commit page."""
    return math.ceil(len(sizes) / 100) + sum(math.ceil(n / 100) for n in sizes.values())


def run_job(api_url: str, lake: Path, concurrency: int, tokens: tuple[str, ...] = (TOKEN,)) -> dict[str, Any]:
    """One job process, as a user runs it; its wall time and its own summary line."""
    env = {**os.environ, "GITHUB_API_URL": api_url, "GITHUB_TOKEN": ",".join(tokens), "LAKE_ROOT": str(lake)}
    started = time.monotonic()
    done = subprocess.run(
        [
            *(sys.executable, "-m", "jobs.github_contributors"),
            *("--org", ORG, "--run-date", RUN_DATE, "--concurrency", str(concurrency)),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    seconds = time.monotonic() - started
    if done.returncode != 0:
        raise SystemExit(f"the job failed ({done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    found = SUMMARY_RE.findall(done.stdout + done.stderr)
    return {"seconds": round(seconds, 2), "summary": found[-1] if found else None}


def table_versions(lake: Path) -> dict[str, int]:
    """Each table's newest version, from its _delta_log file names (no Spark needed)."""
    out = {}
    for table in TABLES:
        logs = sorted((lake / "github" / table / "_delta_log").glob("*.json"))
        out[table] = int(logs[-1].stem) if logs else -1
    return out


def rewritten(lake: Path, before: dict[str, int]) -> list[str]:
    """The tables with a newer version than in `before` (a `table_versions` of the same lake)."""
    return sorted(t for t, v in table_versions(lake).items() if v != before[t])


def changed_run(
    data: Path, api_url: str, lake: Path, concurrency: int, *, repos: list[str], seed: int
) -> dict[str, Any]:
    """The job after 20 new commits on each of `repos`; the emulator's data is restored after."""
    org_dir = data / ORG
    touched = [org_dir / "org.json", *(org_dir / "commits" / f"{name}.jsonl" for name in repos)]
    saved = {path: path.read_bytes() for path in touched}
    before = table_versions(lake)
    try:
        for offset, name in enumerate(repos):
            append_commits(data, ORG, name, 20, seed=seed + offset)
        run = run_job(api_url, lake, concurrency)
    finally:
        for path, content in saved.items():
            path.write_bytes(content)
    return {**run, "tables_rewritten": rewritten(lake, before)}


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repos", type=int, default=200)
    parser.add_argument("--commits", type=int, default=60_000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=48)
    parser.add_argument("--skew", type=float, default=0.9)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULT)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")

    work = Path(tempfile.mkdtemp(prefix="bench-github-job-"))
    by_repo = generate_bench_org(work / "data", args.repos, args.commits, args.skew)
    names, sizes = list(by_repo), list(by_repo.values())
    minimum = minimum_requests(by_repo)
    job_api = emulator.start(work / "data", latency=args.latency, tokens=[TOKEN])
    baseline_api = emulator.start(work / "data", latency=args.latency, tokens=[TOKEN])
    etags = first_page_etags(baseline_api.url, ORG, names)
    rounds: list[dict[str, Any]] = []
    load_before = load_average()
    try:
        for index in range(args.repeat):
            lake = work / f"lake-{index}"
            shutil.rmtree(lake, ignore_errors=True)
            sequential = sequential_crawl(baseline_api.url, ORG)
            job_api.reset_counters()
            first = run_job(job_api.url, lake, args.concurrency)
            first_stats = job_api.stats()
            conditional = conditional_loop(baseline_api.url, ORG, etags)
            before = table_versions(lake)
            job_api.reset_counters()
            recrawl = run_job(job_api.url, lake, args.concurrency)
            recrawl_stats = job_api.stats()
            recrawl_rewrote = rewritten(lake, before)
            changed = changed_run(
                work / "data",
                job_api.url,
                lake,
                args.concurrency,
                repos=names[3 * index : 3 * index + 3],
                seed=1000 + index,
            )
            data_requests = first_stats["by_kind"].get("commits", 0) + first_stats["by_kind"].get("repos", 0)
            rounds.append(
                {
                    "sequential": sequential,
                    "first": {
                        **first,
                        "requests": data_requests,
                        "above_minimum_pct": round(100.0 * (data_requests - minimum) / minimum, 2),
                    },
                    "conditional": conditional,
                    "recrawl": {
                        **recrawl,
                        "commits_requests": recrawl_stats["by_kind"].get("commits", 0),
                        "not_modified": recrawl_stats["not_modified"],
                        "tables_rewritten": recrawl_rewrote,
                    },
                    "changed": changed,
                }
            )
            log.info("round %d: %s", index, json.dumps(rounds[-1]))
            shutil.rmtree(lake, ignore_errors=True)
    finally:
        job_api.stop()
        baseline_api.stop()

    def median(kind: str) -> float:
        return round(float(statistics.median(r[kind]["seconds"] for r in rounds)), 2)

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
            "note": "shared with other workloads: wall times are noisy, ratios within a round fairer",
        },
        "targets": TARGETS,
        "requests_minimum": minimum,
        "median_seconds": {
            k: median(k) for k in ("sequential", "first", "conditional", "recrawl", "changed")
        },
        "first_speedup": round(median("sequential") / median("first"), 2),
        "recrawl_ratio": round(median("recrawl") / median("conditional"), 2),
        "rounds": rounds,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    log.info("%s", json.dumps({k: result[k] for k in ("median_seconds", "first_speedup", "recrawl_ratio")}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
