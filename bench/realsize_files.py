"""Real-size hourly pageview files for the benchmarks: ~6 M lines and ~55 MB of gzip each.

The shape of a real hour (sources.md): 2,010 domain codes in blocks, sorted by code, `en` 12% and
`en.m` 15% of the lines, the rest spread over the other codes with a long tail; Zipf-like titles
(the benchmark vocabulary of `emulators.wikimedia_data`, with namespaces, so the job's join and
ranking do real work); most counts 1. Generated with numpy (a file in seconds, not minutes), in
parallel processes, cached under bench/work/.

    .venv/bin/python bench/realsize_files.py [--files 24] [--lines 6000000]
"""

from __future__ import annotations

import argparse
import gzip
import logging
import sys
from concurrent.futures import ProcessPoolExecutor
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from emulators.wikimedia_data import bench_vocabulary, hourly_relative  # noqa: E402

log = logging.getLogger("bench.realsize_files")
WORK = ROOT / "bench" / "work" / "wikimedia" / "realsize"
START = datetime(2026, 1, 5, 1)
REAL_LINES = 6_000_000
OTHER_CODES = 2_008
NAMESPACES = ("", "", "", "", "", "", "Special:", "Talk:", "File:", "Category:", "Wikipedia:")


def _codes() -> list[tuple[str, float]]:
    """(code, share of the lines): `en` 12%, `en.m` 15%, 2,008 others over a Zipf tail."""
    names = [f"{lang}{suffix}" for lang in _languages() for suffix in ("", ".m", ".d", ".b")]
    ranks = np.arange(1, OTHER_CODES + 1, dtype=float)
    weights = 1 / ranks
    shares = 0.73 * weights / weights.sum()
    return sorted([("en", 0.12), ("en.m", 0.15), *zip(names[:OTHER_CODES], shares.tolist(), strict=True)])


def _languages() -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return [a + b for a in letters for b in letters if a + b != "en"] + [
        a + b + "x" for a in letters for b in "xyz"
    ]


def write_file(path: Path, lines: int, seed: int) -> None:
    """One hour: `lines` lines of the real shape, gzip level 6 (as the dumps are)."""
    rng = np.random.default_rng(seed)
    vocabulary = bench_vocabulary()
    titles = np.array([ns + title for ns in NAMESPACES for title in vocabulary], dtype=object)
    chunks: list[bytes] = []
    for code, share in _codes():
        count = max(1, int(lines * share))
        if code in ("en", "en.m"):  # the wiki the job reads: the vocabulary its dumps hold
            zipf = np.minimum(rng.zipf(1.3, 2 * count) - 1, len(titles) - 1)
            uniform = rng.integers(0, len(titles), 2 * count)
            index = np.unique(np.where(rng.random(2 * count) < 0.3, zipf, uniform))[:count]
            names = titles[rng.permutation(index)[:count]].tolist()
        else:  # other wikis: titles of their own, as varied as real ones
            words = rng.integers(0, len(vocabulary), count).tolist()
            tails = rng.integers(0, 1 << 40, count).tolist()
            names = [f"{vocabulary[w]}_{t:x}" for w, t in zip(words, tails, strict=True)]
        views = np.where(rng.random(len(names)) < 0.6, 1, np.minimum(rng.pareto(1.2, len(names)) + 1, 1e7))
        prefix = code + " "
        body = "".join(
            f"{prefix}{title} {n} 0\n"
            for title, n in zip(sorted(names), views.astype(np.int64).tolist(), strict=True)
        )
        chunks.append(body.encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with gzip.open(tmp, "wb", compresslevel=6) as out:
        for chunk in chunks:
            out.write(chunk)
    tmp.rename(path)


def realsize_files(count: int, lines: int = REAL_LINES, workers: int = 2) -> dict[date, list[str]]:
    """The generated files (cached), grouped by the UTC day they belong to."""
    by_day: dict[date, list[str]] = {}
    todo: list[tuple[Path, int]] = []
    for i in range(count):
        ts = START + timedelta(hours=i)
        path = WORK / f"{lines}" / hourly_relative(ts)
        if not path.exists():
            todo.append((path, i))
        day = (ts - timedelta(hours=1)).date()  # a file's timestamp is the end of its hour
        by_day.setdefault(day, []).append(str(path))
    if todo:
        log.info("generating %d real-size files of ~%d lines", len(todo), lines)
        with ProcessPoolExecutor(workers) as pool:
            list(pool.map(write_file, [p for p, _ in todo], [lines] * len(todo), [s for _, s in todo]))
    return by_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=24)
    parser.add_argument("--lines", type=int, default=REAL_LINES)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    by_day = realsize_files(args.files, args.lines)
    paths = [Path(p) for ps in by_day.values() for p in ps]
    log.info("%d files, %.0f MB of gzip", len(paths), sum(p.stat().st_size for p in paths) / 1e6)


if __name__ == "__main__":
    main()
