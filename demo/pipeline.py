"""Run the whole platform on bundled sample data: emulators up, three jobs, a summary.

Everything here drives the product only from the outside (environment + `python -m jobs.*`), as a
scheduler would, so the demo also proves the contract's commands.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from common.errors import PlatformError

log = logging.getLogger("demo")

ROOT = Path(__file__).resolve().parent.parent
DEMO_ORG = "demo-org"
MINIO_ENV = {
    "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "AWS_ACCESS_KEY_ID": "minioadmin",
    "AWS_SECRET_ACCESS_KEY": "miniopassword",
}


@dataclass
class DemoRun:
    """What the demo ran, for the summary and for the end-to-end test."""

    sources: Path
    env: dict[str, str]
    github_run_date: date
    wikimedia_start: date
    datagouv_run_date: date
    durations: dict[str, float] = field(default_factory=dict)


def prepare_sources(sources: Path) -> date:
    """Generate the sample sources once (kept between runs); returns the Wikimedia start date."""
    from emulators import datagouv_data, github_data, wikimedia_data

    done = sources / ".complete"
    if not done.exists():
        log.info("generating sample sources in %s", sources)
        for name in ("github", "wikimedia", "datagouv"):
            (sources / name).mkdir(parents=True, exist_ok=True)
        github_data.generate_demo(sources / "github")
        wikimedia_data.generate_demo(sources / "wikimedia")
        datagouv_data.generate_demo(sources / "datagouv")
        done.write_text("ok\n")
    return wikimedia_data.DEMO_START


@contextmanager
def emulators_running(sources: Path) -> Iterator[dict[str, str]]:
    """Start the three source emulators on free loopback ports; yields the settings that point at them."""
    from emulators import datagouv, github, wikimedia

    with ExitStack() as stack:
        gh = github.start(sources / "github")
        stack.callback(gh.stop)
        wm = wikimedia.start(sources / "wikimedia")
        stack.callback(wm.stop)
        dg = datagouv.start(sources / "datagouv")
        stack.callback(dg.stop)
        log.info("emulators: github %s, wikimedia %s, data.gouv.fr %s", gh.url, wm.url, dg.api_url)
        yield {"GITHUB_API_URL": gh.url, "WIKIMEDIA_DUMPS_URL": wm.url, "DATAGOUV_API_URL": dg.api_url}


def run_job(name: str, args: list[str], env: dict[str, str]) -> float:
    """Run `python -m jobs.<name>` with its output streamed, prefixed; raise on failure."""
    started = time.monotonic()
    cmd = [sys.executable, "-m", f"jobs.{name}", *args]
    log.info("running %s", " ".join(cmd[1:]))
    proc = subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1
    )
    assert proc.stdout is not None
    last = ""
    try:
        for raw in proc.stdout:
            line = raw.rstrip()
            if line:
                last = line
                print(f"  [{name}] {line}", flush=True)
        rc = proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(timeout=30)
        raise
    if rc != 0:
        raise PlatformError(f"jobs.{name} failed (exit {rc}): {last}")
    return time.monotonic() - started


def job_env(lake_root: str, emulator_env: dict[str, str]) -> dict[str, str]:
    """The demo's environment: embedded defaults, local MinIO/FerretDB, the emulators."""
    env = {k: v for k, v in os.environ.items() if k not in ("GITHUB_TOKEN", "MONGO_URI")}
    env.update(MINIO_ENV)
    env.update(emulator_env)
    env.update(
        {
            "LAKE_ROOT": lake_root,
            "MONGO_URI": "mongodb://127.0.0.1:27017",
            "DATAGOUV_BUCKET": os.environ.get("DATAGOUV_BUCKET", "datagouv"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def run_demo(sources: Path, lake_root: str) -> DemoRun:
    """Sample sources, emulators, then the three jobs with the contract's commands."""
    wiki_start = prepare_sources(sources)
    with emulators_running(sources) as emulator_env:
        return run_pipeline(sources, wiki_start, lake_root, emulator_env)


def run_pipeline(sources: Path, wiki_start: date, lake_root: str, emulator_env: dict[str, str]) -> DemoRun:
    """The three jobs against the given sources, side by side."""
    env = job_env(lake_root, emulator_env)
    run = DemoRun(
        sources=sources,
        env=env,
        github_run_date=datetime.now(UTC).date(),
        wikimedia_start=wiki_start,
        datagouv_run_date=datetime.now(ZoneInfo("Europe/Paris")).date(),
    )
    jobs = {
        "github_contributors": ["--org", DEMO_ORG, "--run-date", run.github_run_date.isoformat()],
        "wikimedia_pageviews": ["--start-date", wiki_start.isoformat(), "--days", "7", "--wiki", "enwiki"],
        "datagouv_catalog": ["--run-date", run.datagouv_run_date.isoformat()],
    }
    # Independent jobs (their own tables and leases): side by side, as a scheduler runs them.
    with ThreadPoolExecutor(len(jobs), thread_name_prefix="demo-job") as pool:
        running = {name: pool.submit(run_job, name, args, env) for name, args in jobs.items()}
    run.durations.update({name: job.result() for name, job in running.items()})  # a failure raised
    return run


def summary(run: DemoRun) -> list[str]:
    """A few lines on what each job produced, read back from the gold tables."""
    from deltalake import DeltaTable

    from common.settings import load_settings
    from common.storage import delta_rs_uri, delta_storage_options, lake_path

    settings = load_settings(lake_root=run.env["LAKE_ROOT"], **{k.lower(): v for k, v in MINIO_ENV.items()})

    def table(rel: str) -> list[dict[str, Any]]:
        uri = delta_rs_uri(lake_path(settings, rel))
        rows: list[dict[str, Any]] = (
            DeltaTable(uri, storage_options=delta_storage_options(settings)).to_pyarrow_table().to_pylist()
        )
        return rows

    lines = []
    repos = [r for r in table("github/repositories") if r["org"] == DEMO_ORG]
    months = [r for r in table("github/new_contributors_monthly") if r["org"] == DEMO_ORG]
    biggest = max(repos, key=lambda r: r["total_contributors"], default=None)
    lines.append(
        f"github_contributors  {len(repos)} repositories, {len(months)} repository-months"
        + (f"; most contributors: {biggest['repo']} ({biggest['total_contributors']})" if biggest else "")
        + f"  [{run.durations.get('github_contributors', 0):.0f} s]"
    )
    days = sorted(table("wikimedia/daily_summary"), key=lambda r: r["day"])
    incomplete = [str(d["day"]) for d in days if not d["complete"]]
    lines.append(
        f"wikimedia_pageviews  {len(days)} days"
        + (f", incomplete: {', '.join(incomplete)}" if incomplete else "")
        + (f"; first day's most requested: {days[0]['most_title']}" if days else "")
        + f"  [{run.durations.get('wikimedia_pageviews', 0):.0f} s]"
    )
    run_date = run.datagouv_run_date.isoformat()
    tops = [r for r in table("datagouv/tops") if r["run_date"] == run_date]
    lines.append(
        f"datagouv_catalog     {len(tops)} datasets of the top 30 organizations in MongoDB datagouv.tops; "
        f"CSV at s3://{run.env['DATAGOUV_BUCKET']}/{run_date}/datasets.csv"
        f"  [{run.durations.get('datagouv_catalog', 0):.0f} s]"
    )
    return lines
