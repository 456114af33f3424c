"""Benchmark: the whole Wikimedia job on one day of 24 hourly files of 1 M lines, beside DuckDB.

The job runs as a user runs it, `python -m jobs.wikimedia_pageviews --start-date D --days 1`, a
process of its own, against the emulator (serving the generated files and SQL dumps whose
articles are the files' titles, so the join and the ranking do real work) and a local lake
(LAKE_ROOT's default kind). Three runs of the job are timed each round: `first` on an empty lake
(landing, the dimensions, everything), then `unchanged`, the same command again on the lake the
first left (nothing changed: it rewrites nothing and starts no Spark), then `rerun` with the
job's record of what it last computed from removed (files landed, dimensions kept: what
reprocessing a day costs when its inputs changed). Beside them, DuckDB aggregates the same files
(as in bench/wikimedia_aggregate.py). Interleaved (DuckDB, first, unchanged, rerun, repeated), medians
compared; each job run's own stage times (its summary line) are kept, and the CPU seconds of
each (the job's whole process tree, DuckDB's threads), which a shared, noisy machine disturbs
less. The job's most requested article is checked against the one DuckDB's sums give.
Each run also counts how often each landed hourly file is opened (inotify on the landing folder):
the job reads each file once. Writes bench/results/wikimedia_job.json; with `--realsize`, the
files are real-size hours (bench/realsize_files.py: ~6 M lines, ~60 MB of gzip each) and the result
goes to bench/results/wikimedia_job_realsize.json.

    .venv/bin/python bench/wikimedia_job.py [--files 24] [--lines 1000000] [--repeat 3] [--realsize]
"""

from __future__ import annotations

import argparse
import ctypes
import gzip
import logging
import os
import re
import select
import shutil
import statistics
import struct
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.realsize_files import REAL_LINES, realsize_files  # noqa: E402
from bench.realsize_files import WORK as REALSIZE_WORK  # noqa: E402
from bench.results_file import write_result  # noqa: E402
from bench.wikimedia_aggregate import CODES, WORK, bench_files, time_duckdb  # noqa: E402
from emulators import wikimedia as emulator  # noqa: E402
from emulators.wikimedia_data import (  # noqa: E402
    ARTICLES,
    bench_vocabulary,
    build_bench_wiki,
    dump_relative,
    dump_tables,
)

log = logging.getLogger("bench.wikimedia_job")
RESULT = ROOT / "bench" / "results" / "wikimedia_job.json"
REALSIZE_RESULT = ROOT / "bench" / "results" / "wikimedia_job_realsize.json"
LAKES = ROOT / "bench" / "work" / "wikimedia" / "job-lakes"
TARGETS = {"job_vs_duckdb": 4.0}
REALSIZE_TARGETS = {"job_first_vs_duckdb": 2.0, "aggregate_stage_vs_duckdb": 1.2, "file_opens_max": 1}
SUMMARY_RE = re.compile(r"wikimedia_pageviews: (\d+(?:\.\d+)?)s in all: (.*)")
READS_RE = re.compile(r"aggregated the hourly files in .* \((\d+) reads\)")
STAGE_RE = re.compile(r"([a-z_]+) (\d+(?:\.\d+)?)s")


def bench_tree(files: int, lines: int, realsize: bool) -> tuple[Path, dict[date, list[str]]]:
    """The emulator's root: the hourly files (the aggregation bench's, or real-size ones) plus SQL
    dumps of their titles."""
    by_day = realsize_files(files, lines) if realsize else bench_files(files, lines)
    root = (REALSIZE_WORK if realsize else WORK) / f"{lines}"
    for table, data in dump_tables(build_bench_wiki(), "enwiki", "transitional").items():
        path = root / dump_relative("enwiki", "latest", table)
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(data, mtime=0))
    return root, by_day


class TreeCpu:
    """CPU seconds of a process and all its descendants (the job's Python and its Spark JVM),
    sampled from /proc every 0.1 s while it runs: on a shared machine, what the run cost."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.seen: dict[int, float] = {}
        self.peak_rss_mb = 0.0  # the tree's largest resident memory, summed over its processes
        # ... of it, the anonymous pages (heap, off-heap buffers, stacks): what the processes
        # need. The rest are file pages (the JVM's mapped jars and class archive, Spark's cached
        # blocks read back from disk by mmap), which the kernel reclaims as page cache.
        self.peak_anon_mb = 0.0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        names: dict[int, str] = {}
        tick = os.sysconf("SC_CLK_TCK")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                name, fields = (entry / "stat").read_text().rsplit(")", 1)
            except OSError:
                continue
            stat = fields.split()
            parents[int(entry.name)] = int(stat[1])
            cpu[int(entry.name)] = (int(stat[11]) + int(stat[12])) / tick
            names[int(entry.name)] = name.split("(", 1)[-1]
        tree, grew = {self.root}, True
        while grew:
            more = {pid for pid, parent in parents.items() if parent in tree} - tree
            tree |= more
            grew = bool(more)
        memory_kb: Counter[str] = Counter()  # VmRSS and RssAnon over the tree
        for pid in tree & cpu.keys():
            self.seen[pid] = max(self.seen.get(pid, 0.0), cpu[pid])
            if names.get(parents.get(pid, 0)) == "java":
                # A JVM's helper (Hadoop's chmod, its spawn helper) starts sharing the JVM's
                # memory (vfork): counted, it doubled the JVM's for that instant.
                continue
            try:
                status = (Path("/proc") / str(pid) / "status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key in ("VmRSS", "RssAnon"):
                    memory_kb[key] += int(value.split()[0])
        self.peak_rss_mb = max(self.peak_rss_mb, memory_kb["VmRSS"] * 1024 / 1e6)
        self.peak_anon_mb = max(self.peak_anon_mb, memory_kb["RssAnon"] * 1024 / 1e6)

    def _poll(self) -> None:
        while not self.done.wait(0.1):
            self._sample()

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return sum(self.seen.values())


class Opens:
    """How often each file of a folder is opened (inotify IN_OPEN, read in a thread)."""

    IN_OPEN = 0x20
    EVENT = struct.Struct("iIII")

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        self.fd = libc.inotify_init1(os.O_NONBLOCK)
        if self.fd < 0 or libc.inotify_add_watch(self.fd, str(folder).encode(), self.IN_OPEN) < 0:
            raise OSError(ctypes.get_errno(), f"inotify on {folder}")
        self.counts: Counter[str] = Counter()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)
        self.thread.start()

    def _poll(self) -> None:
        while not self.done.is_set():
            if not select.select([self.fd], [], [], 0.1)[0]:
                continue
            data, offset = os.read(self.fd, 1 << 16), 0
            while offset < len(data):
                _, _, _, length = self.EVENT.unpack_from(data, offset)
                name = (
                    data[offset + self.EVENT.size : offset + self.EVENT.size + length].rstrip(b"\0").decode()
                )
                offset += self.EVENT.size + length
                if name.endswith(".gz") and not name.startswith("."):
                    self.counts[name] += 1

    def stop(self) -> Counter[str]:
        self.done.set()
        self.thread.join()
        os.close(self.fd)
        return self.counts


def run_job(url: str, lake: Path, day: date, days: int = 1) -> tuple[float, float, dict[str, float], str]:
    """One whole job process: wall seconds, CPU seconds (its process tree), its stage times (with
    `reads`, the batches its hourly files were read in, `file_opens_max`, the most any landed
    hourly file was opened, `peak_rss_mb`, the tree's largest resident memory, and
    `peak_anon_mb`, its anonymous part), its last log lines."""
    env = {
        **os.environ,
        "LAKE_ROOT": str(lake),
        "WIKIMEDIA_DUMPS_URL": url,
        "SPARK_MASTER": os.environ.get("SPARK_MASTER", "local[2]"),
    }
    cmd = [sys.executable, "-m", "jobs.wikimedia_pageviews", "--start-date", f"{day}", "--days", f"{days}"]
    opens = Opens(lake / "raw" / "wikimedia" / "other" / "pageviews" / f"{day:%Y}" / f"{day:%Y-%m}")
    started = time.perf_counter()
    with subprocess.Popen(
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as job:
        tree = TreeCpu(job.pid)
        stdout, stderr = job.communicate()
    elapsed = time.perf_counter() - started
    cpu = tree.stop()
    opened = opens.stop()
    done = subprocess.CompletedProcess(cmd, job.returncode, stdout, stderr)
    if done.returncode != 0:
        raise SystemExit(f"the job failed ({done.returncode}):\n{done.stderr[-3000:]}")
    match = reads = None
    for line in done.stderr.splitlines():
        match = SUMMARY_RE.search(line) or match
        reads = READS_RE.search(line) or reads
    stages = {} if match is None else {k: float(v) for k, v in STAGE_RE.findall(match.group(2))}
    if match is not None:
        stages["job_total"] = float(match.group(1))
    if reads is not None:
        stages["reads"] = float(reads.group(1))
    stages["file_opens_max"] = float(max(opened.values(), default=0))
    stages["peak_rss_mb"] = round(tree.peak_rss_mb)
    stages["peak_anon_mb"] = round(tree.peak_anon_mb)
    return elapsed, cpu, stages, "\n".join(done.stderr.splitlines()[-12:])


def job_answer(lake: Path, day: date) -> tuple[str, int]:
    """The most requested article the job wrote for `day` (read with delta-rs, no Spark)."""
    from deltalake import DeltaTable

    table = DeltaTable(str(lake / "wikimedia" / "daily_summary")).to_pyarrow_table()
    for row in table.to_pylist():
        if row["day"] == day:
            return str(row["most_title"]), int(row["most_views"])
    raise SystemExit(f"no daily_summary row for {day}")


def duckdb_answer(by_day: dict[date, list[str]], day: date) -> tuple[str, int]:
    """The most requested article from DuckDB's sums: titles of the articles, Main_Page left out."""
    import duckdb
    import pyarrow as pa

    con = duckdb.connect()
    files = ", ".join(f"'{p}'" for p in by_day[day])
    con.execute(
        "CREATE TEMP TABLE agg AS SELECT title, sum(views) AS views FROM read_csv("
        f"[{files}], delim=' ', header=false, quote='', escape='', compression='gzip', ignore_errors=true, "
        "auto_detect=false, columns={'code': 'VARCHAR', 'title': 'VARCHAR', 'views': 'BIGINT', "
        f"'size': 'BIGINT'}}) WHERE code IN ({', '.join(repr(c) for c in CODES)}) GROUP BY title"
    )
    articles = [t for t in (*ARTICLES, *bench_vocabulary()) if t != "Main_Page"]
    con.register("articles", pa.table({"title": articles}))
    query = "SELECT title, views FROM agg JOIN articles USING (title) ORDER BY views DESC, title LIMIT 1"
    row = con.execute(query).fetchone()
    con.close()
    assert row is not None
    return str(row[0]), int(row[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--lines", type=int, default=0, help="lines per file (1 M; real size 6 M)")
    parser.add_argument("--realsize", action="store_true", help="real-size hours (bench/realsize_files.py)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("SPARK_MASTER", f"local[{args.cores}]")

    args.lines = args.lines or (REAL_LINES if args.realsize else 1_000_000)
    root, by_day = bench_tree(args.files, args.lines, args.realsize)
    day = min(by_day)
    server = emulator.start(root)
    load_before = os.getloadavg()
    runs: dict[str, list[float]] = {"duckdb": [], "job_first": [], "job_unchanged": [], "job_rerun": []}
    cpu: dict[str, list[float]] = {k: [] for k in runs}
    stages: dict[str, list[dict[str, float]]] = {"job_first": [], "job_unchanged": [], "job_rerun": []}
    answers: dict[str, Any] = {}
    try:
        time_duckdb(by_day, args.cores)  # warm-up: the files enter the page cache
        for i in range(args.repeat):
            used = time.process_time()
            runs["duckdb"].append(time_duckdb(by_day, args.cores)[0])
            cpu["duckdb"].append(time.process_time() - used)
            lake = LAKES / f"run-{i}"
            shutil.rmtree(lake, ignore_errors=True)
            for kind in ("job_first", "job_unchanged", "job_rerun"):
                if kind == "job_rerun":  # as if an input had changed: the day is recomputed
                    (lake / "raw" / "wikimedia" / "state" / "enwiki-published.json").unlink()
                elapsed, used, timed, tail = run_job(server.url, lake, day)
                runs[kind].append(elapsed)
                cpu[kind].append(used)
                stages[kind].append(timed)
                log.info("%s %.1fs: %s", kind, elapsed, timed or tail)
            answers["job"] = job_answer(lake, day)
            shutil.rmtree(lake, ignore_errors=True)
            log.info("round %d: %s", i + 1, {k: round(v[-1], 2) for k, v in runs.items()})
    finally:
        server.stop()
    answers["duckdb"] = duckdb_answer(by_day, day)

    median = {k: statistics.median(v) for k, v in runs.items()}
    median_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    stage_median = {
        kind: {name: round(statistics.median(s.get(name, 0.0) for s in runs_), 2) for name in runs_[0]}
        for kind, runs_ in stages.items()
        if runs_ and runs_[0]
    }
    result = {
        "files": args.files,
        "lines_per_file": args.lines,
        "gzip_mb": round(sum(Path(p).stat().st_size for ps in by_day.values() for p in ps) / 1e6),
        "day": day.isoformat(),
        "cores": args.cores,
        "spark_master": os.environ["SPARK_MASTER"],
        "lake": "local folder (LAKE_ROOT's default kind), emptied before each first run",
        "runs_seconds": {k: [round(x, 2) for x in v] for k, v in runs.items()},
        "median_seconds": {k: round(v, 2) for k, v in median.items()},
        "job_first_vs_duckdb": round(median["job_first"] / median["duckdb"], 2),
        "job_unchanged_vs_duckdb": round(median["job_unchanged"] / median["duckdb"], 2),
        "job_rerun_vs_duckdb": round(median["job_rerun"] / median["duckdb"], 2),
        "cpu_runs_seconds": {k: [round(x, 2) for x in v] for k, v in cpu.items()},
        "cpu_median_seconds": {k: round(v, 2) for k, v in median_cpu.items()},
        "cpu_job_first_vs_duckdb": round(median_cpu["job_first"] / median_cpu["duckdb"], 2),
        "cpu_job_rerun_vs_duckdb": round(median_cpu["job_rerun"] / median_cpu["duckdb"], 2),
        "targets": REALSIZE_TARGETS if args.realsize else TARGETS,
        "stage_seconds_median": stage_median,
        "aggregate_stage_vs_duckdb": {
            kind: round(s["aggregate"] / median["duckdb"], 2)
            for kind, s in stage_median.items()
            if "aggregate" in s
        },
        "most_requested": {k: list(v) for k, v in answers.items()},
        "same_answer": answers.get("job") == answers["duckdb"],
    }
    write_result(REALSIZE_RESULT if args.realsize else RESULT, result, load_before)


if __name__ == "__main__":
    main()
