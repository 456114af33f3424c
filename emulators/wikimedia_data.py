"""Synthetic Wikimedia dumps: hourly pageview files and MySQL SQL dumps, in the real layout.

`generate_tree` writes a small, deterministic dumps tree (the tests and the demo serve it through
`emulators.wikimedia`); `expected_answers` recomputes the contract's answers from those files in
plain Python, independently of the Spark job; `write_bench_file` writes big hourly files of a
realistic shape for the benchmark. Every path follows `dumps.wikimedia.org`:
`other/pageviews/YYYY/YYYY-MM/pageviews-YYYYMMDD-HH0000.gz` and `{wiki}/{date}/{wiki}-{date}-{table}.sql.gz`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEMO_START = date(2026, 3, 2)
TABLES = ("page", "redirect", "categorylinks", "linktarget", "page_props")
LAYOUTS = ("legacy", "normalised", "transitional")
TRUTH_DIR = ".truth"


def hourly_relative(ts: datetime) -> str:
    """Path of the hourly file whose name carries `ts` (the END of its hour)."""
    return f"other/pageviews/{ts:%Y}/{ts:%Y-%m}/pageviews-{ts:%Y%m%d-%H}0000.gz"


def day_file_times(day: date) -> list[datetime]:
    """The 24 file timestamps of UTC day D: D 01:00 ... D 23:00 and D+1 00:00."""
    start = datetime(day.year, day.month, day.day)
    return [start + timedelta(hours=h) for h in range(1, 25)]


def dump_relative(wiki: str, dump_date: str, table: str) -> str:
    return f"{wiki}/{dump_date}/{wiki}-{dump_date}-{table}.sql.gz"


def ucfirst(title: str) -> str:
    """MediaWiki-like normalisation in plain Python (spaces to `_`, one-code-point upper first)."""
    title = title.replace(" ", "_")
    if not title:
        return title
    upper = title[0].upper()
    return (upper if len(upper) == 1 else title[0]) + title[1:]


# --- the synthetic wiki ---------------------------------------------------------------------


@dataclass
class Wiki:
    """Pages, redirects, category links and properties of a small synthetic wiki."""

    pages: list[tuple[int, int, str, int]] = field(default_factory=list)  # id, ns, title, is_redirect
    redirects: list[tuple[int, int, str, str]] = field(default_factory=list)  # from, ns, title, interwiki
    links: list[tuple[int, str, str]] = field(default_factory=list)  # from, category, type
    props: list[tuple[int, str, str]] = field(default_factory=list)  # page, name, value

    def add_page(self, namespace: int, title: str, redirect: bool = False) -> int:
        page_id = len(self.pages) + 1
        self.pages.append((page_id, namespace, title, int(redirect)))
        return page_id


ARTICLES = (
    "Main_Page",
    "Albert_Einstein",
    "Python_(programming_language)",
    "Rock_'n'_Roll",
    '"Weird_Al"_Yankovic',
    "Éclair",
    "ßtest",
    "Zürich",
    "Back\\slash_(band)",
    "Star_Wars:_Episode_IV",
    "United_Kingdom",
    "Marie_Curie",
    "Cheesecake",
    "Bern",
    "Java_(programming_language)",
    "Tiramisu",
    "Quiet_article_A",
    "Quiet_article_B",
    "Quiet_article_C",
    "Quiet_article_D",
    "Music",
    "東京",
)
CATEGORIES = {
    "Physicists": ("Albert_Einstein", "Marie_Curie"),
    "1879_births": ("Albert_Einstein",),
    "Programming_languages": ("Python_(programming_language)", "Java_(programming_language)"),
    "Rock_'n'_roll_songs": ("Rock_'n'_Roll", "Back\\slash_(band)"),
    "Desserts": ("Éclair", "Cheesecake", "Tiramisu"),
    "Cities_in_Switzerland": ("Zürich", "Bern"),
    "Countries": ("United_Kingdom",),
    "Quiet_things": ("Quiet_article_A", "Quiet_article_B", "Quiet_article_C", "Quiet_article_D"),
    "Films": ("Star_Wars:_Episode_IV",),
    "Musicians": ('"Weird_Al"_Yankovic',),
    "Japan": ("東京",),
    "All_articles_with_unsourced_statements": ("Albert_Einstein", "Python_(programming_language)", "Éclair"),
    "Articles_with_short_description": ARTICLES[1:12],
}
HIDDEN = ("All_articles_with_unsourced_statements", "Articles_with_short_description")
REDIRECTS = {  # redirect title -> target title (namespace 0 unless the target says otherwise)
    "Einstein": "Albert_Einstein",
    "Python_language": "Python_(programming_language)",
    "UK": "United_Kingdom",
    "Double_redirect": "Einstein",  # target is a redirect: not an article
    "Broken_redirect": "No_such_page",
    "Main": "Main_Page",  # resolves to the main page: excluded
    "Eclair": "Éclair",
}


def build_wiki() -> Wiki:
    wiki = Wiki()
    ids: dict[tuple[int, str], int] = {}
    for title in ARTICLES:
        ids[(0, title)] = wiki.add_page(0, title)
    for source in REDIRECTS:
        ids[(0, source)] = wiki.add_page(0, source, redirect=True)
    for source, target in REDIRECTS.items():
        wiki.redirects.append((ids[(0, source)], 0, target, ""))
    interwiki = wiki.add_page(0, "Interwiki_redirect", redirect=True)
    wiki.redirects.append((interwiki, 0, "Albert_Einstein", "fr"))
    talk = wiki.add_page(1, "Albert_Einstein")  # Talk:Albert_Einstein
    wiki.add_page(0, "Redirect_without_row", redirect=True)  # flagged, but no redirect row
    for category in CATEGORIES:
        cat_id = wiki.add_page(14, category)
        if category in HIDDEN:
            wiki.props.append((cat_id, "hiddencat", ""))
    for category, members in CATEGORIES.items():
        for title in members:
            wiki.links.append((ids[(0, title)], category, "page"))
    wiki.links.append((talk, "Physicists", "page"))  # a talk page is not an article
    wiki.links.append((ids[(0, "Einstein")], "Physicists", "page"))  # redirects are not articles
    wiki.links.append((wiki.add_page(14, "Theoretical_physicists"), "Physicists", "subcat"))
    wiki.links.append((wiki.add_page(6, "Einstein_1921.jpg"), "Physicists", "file"))
    wiki.props.append((ids[(0, "Albert_Einstein")], "wikibase_item", "Q937"))
    return wiki


# --- MySQL dump writing -------------------------------------------------------------------------

_SQL_ESCAPES = {"\\": "\\\\", "'": "\\'", '"': '\\"', "\n": "\\n", "\r": "\\r", "\0": "\\0", "\x1a": "\\Z"}


def sql_value(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + "".join(_SQL_ESCAPES.get(c, c) for c in value) + "'"
    return repr(value)


_COLUMN_TYPES = {
    "page": [
        ("page_id", "int(8) unsigned NOT NULL AUTO_INCREMENT"),
        ("page_namespace", "int(11) NOT NULL DEFAULT 0"),
        ("page_title", "varbinary(255) NOT NULL DEFAULT ''"),
        ("page_is_redirect", "tinyint(1) unsigned NOT NULL"),
        ("page_is_new", "tinyint(1) unsigned NOT NULL DEFAULT 0"),
        ("page_random", "double unsigned NOT NULL"),
        ("page_touched", "binary(14) NOT NULL"),
        ("page_links_updated", "varbinary(14) DEFAULT NULL"),
        ("page_latest", "int(8) unsigned NOT NULL DEFAULT 0"),
        ("page_len", "int(8) unsigned NOT NULL DEFAULT 0"),
        ("page_content_model", "varbinary(32) DEFAULT NULL"),
        ("page_lang", "varbinary(35) DEFAULT NULL"),
    ],
    "redirect": [
        ("rd_from", "int(8) unsigned NOT NULL DEFAULT 0"),
        ("rd_namespace", "int(11) NOT NULL DEFAULT 0"),
        ("rd_title", "varbinary(255) NOT NULL DEFAULT ''"),
        ("rd_interwiki", "varbinary(32) DEFAULT NULL"),
        ("rd_fragment", "varbinary(255) DEFAULT NULL"),
    ],
    "linktarget": [
        ("lt_id", "bigint(20) unsigned NOT NULL AUTO_INCREMENT"),
        ("lt_namespace", "int(11) NOT NULL"),
        ("lt_title", "varbinary(255) NOT NULL"),
    ],
    "page_props": [
        ("pp_page", "int(10) unsigned NOT NULL"),
        ("pp_propname", "varbinary(60) NOT NULL"),
        ("pp_value", "blob NOT NULL"),
        ("pp_sortkey", "float DEFAULT NULL"),
    ],
}
_CL_TYPES = {
    "cl_from": "int(8) unsigned NOT NULL DEFAULT 0",
    "cl_to": "varbinary(255) NOT NULL DEFAULT ''",
    "cl_sortkey": "varbinary(230) NOT NULL DEFAULT ''",
    "cl_timestamp": "timestamp NOT NULL",
    "cl_sortkey_prefix": "varbinary(255) NOT NULL DEFAULT ''",
    "cl_collation": "varbinary(32) NOT NULL DEFAULT ''",
    "cl_type": "enum('page','subcat','file') NOT NULL DEFAULT 'page'",
    "cl_collation_id": "smallint(5) unsigned NOT NULL DEFAULT 0",
    "cl_target_id": "bigint(20) unsigned NOT NULL",
}
CATEGORYLINKS_COLUMNS = {
    "legacy": (
        "cl_from",
        "cl_to",
        "cl_sortkey",
        "cl_timestamp",
        "cl_sortkey_prefix",
        "cl_collation",
        "cl_type",
    ),
    "normalised": (
        "cl_from",
        "cl_sortkey",
        "cl_timestamp",
        "cl_sortkey_prefix",
        "cl_type",
        "cl_collation_id",
        "cl_target_id",
    ),
    "transitional": (
        "cl_from",
        "cl_to",
        "cl_sortkey",
        "cl_timestamp",
        "cl_sortkey_prefix",
        "cl_collation",
        "cl_type",
        "cl_collation_id",
        "cl_target_id",
    ),
}


def render_dump(
    wiki_name: str,
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Iterable[Sequence[Any]],
    per_insert: int = 3,
) -> bytes:
    """A dump as mysqldump writes it: preamble, CREATE TABLE, multi-row INSERTs on long lines."""
    body = ",\n".join(f"  `{name}` {kind}" for name, kind in columns)
    out = [
        "-- MySQL dump 10.19  Distrib 10.11.6-MariaDB, for debian-linux-gnu (x86_64)\n--\n",
        f"-- Host: db1206    Database: {wiki_name}\n",
        "-- ------------------------------------------------------\n",
        "-- Server version\t10.11.6-MariaDB-log\n\n",
        "/*!40101 SET @OLD_CHARACTER_SET_CLIENT=@@CHARACTER_SET_CLIENT */;\n/*!40101 SET NAMES utf8mb4 */;\n",
        "/*!40014 SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0 */;\n\n",
        f"--\n-- Table structure for table `{table}`\n--\n\nDROP TABLE IF EXISTS `{table}`;\n",
        "/*!40101 SET @saved_cs_client     = @@character_set_client */;\n",
        "/*!40101 SET character_set_client = utf8 */;\n",
        f"CREATE TABLE `{table}` (\n{body},\n  PRIMARY KEY (`{columns[0][0]}`),\n"
        f"  KEY `{table}_idx` (`{columns[1][0]}`)\n"
        ") ENGINE=InnoDB DEFAULT CHARSET=binary ROW_FORMAT=COMPRESSED;\n",
        "/*!40101 SET character_set_client = @saved_cs_client */;\n\n",
        f"--\n-- Dumping data for table `{table}`\n--\n\n/*!40000 ALTER TABLE `{table}` DISABLE KEYS */;\n",
    ]
    batch: list[str] = []
    for row in rows:
        batch.append("(" + ",".join(sql_value(v) for v in row) + ")")
        if len(batch) == per_insert:
            out.append(f"INSERT INTO `{table}` VALUES {','.join(batch)};\n")
            batch = []
    if batch:
        out.append(f"INSERT INTO `{table}` VALUES {','.join(batch)};\n")
    out.append(
        f"/*!40000 ALTER TABLE `{table}` ENABLE KEYS */;\n\n-- Dump completed on 2026-03-01 12:00:00\n"
    )
    return "".join(out).encode("utf-8")


def dump_tables(wiki: Wiki, wiki_name: str, layout: str) -> dict[str, bytes]:
    """The five SQL dumps of `wiki`, categorylinks in the given layout."""
    rng = random.Random(7)
    pages = [
        (
            pid,
            ns,
            title,
            red,
            0,
            round(rng.random(), 12),
            "20260301000000",
            None if pid % 3 else "20260301000000",
            1000 + pid,
            100 * pid,
            "wikitext",
            None,
        )
        for pid, ns, title, red in wiki.pages
    ]
    redirects = [(src, ns, title, iw, None if src % 2 else "") for src, ns, title, iw in wiki.redirects]
    targets: dict[tuple[int, str], int] = {}
    for _, category, _ in wiki.links:
        targets.setdefault((14, category), len(targets) + 1)
        targets.setdefault((0, category), len(targets) + 1)  # same title in namespace 0: must not be used
    linktarget = [(lt_id, ns, title) for (ns, title), lt_id in targets.items()]
    links = []
    for page_id, category, kind in wiki.links:
        values = {
            "cl_from": page_id,
            "cl_to": category,
            "cl_sortkey": category.upper() + "\n" + category,
            "cl_timestamp": "2026-01-01 00:00:00",
            "cl_sortkey_prefix": "",
            "cl_collation": "uca-default-u-kn",
            "cl_type": kind,
            "cl_collation_id": 1,
            "cl_target_id": targets[(14, category)],
        }
        links.append([values[c] for c in CATEGORYLINKS_COLUMNS[layout]])
    props = [(page, name, value, None) for page, name, value in wiki.props]
    return {
        "page": render_dump(wiki_name, "page", _COLUMN_TYPES["page"], pages, per_insert=5),
        "redirect": render_dump(wiki_name, "redirect", _COLUMN_TYPES["redirect"], redirects),
        "categorylinks": render_dump(
            wiki_name,
            "categorylinks",
            [(c, _CL_TYPES[c]) for c in CATEGORYLINKS_COLUMNS[layout]],
            links,
            per_insert=7,
        ),
        "linktarget": render_dump(
            wiki_name, "linktarget", _COLUMN_TYPES["linktarget"], linktarget, per_insert=4
        ),
        "page_props": render_dump(wiki_name, "page_props", _COLUMN_TYPES["page_props"], props),
    }


# --- hourly pageview files ----------------------------------------------------------------------

# Spelling of each article in the pageview files, beside its own title.
_VARIANTS = {
    "Albert_Einstein": ("Einstein", "albert_Einstein", "Double_redirect", "Interwiki_redirect"),
    "Python_(programming_language)": ("Python_language", "python_(programming_language)"),
    "United_Kingdom": ("UK",),
    "Éclair": ("Eclair", "éclair"),
    "Main_Page": ("Main",),
}
_NOT_ARTICLES = (
    "Special:Search",
    "Talk:Albert_Einstein",
    "File:Einstein_1921.jpg",
    "-",
    "Broken_redirect",
    "No_such_page",
    "Redirect_without_row",
    "Wikipedia:About",
    "Category:Physicists",
)
_BAD_LINES = ("en Foo_bar", "en Foo bar 3 0", "en.m Foo_bar abc 0", "en Foo_bar -3 0", "en.m")
_OTHER_CODES = ("en.b", "de", "commons.m", "en.d", "fr.m", "enx")


def hour_lines(ts: datetime, codes: Sequence[str], rng: random.Random) -> list[str]:
    """One hour of pageview lines: the wiki's codes, other projects, junk and malformed lines."""
    lines: list[str] = []
    quiet = {f"Quiet_article_{c}" for c in "ABCD"}
    for code in codes:
        for rank, title in enumerate(ARTICLES):
            if title in quiet:
                # A few views a day: ties for the least requested article.
                if rng.random() < 0.04:
                    lines.append(f"{code} {title} 1 0")
                continue
            weight = 5000 if title == "Main_Page" else max(1, 400 // (rank + 1))
            lines.append(f"{code} {title} {rng.randint(1, weight)} 0")
            for variant in _VARIANTS.get(title, ()):
                if rng.random() < 0.7:
                    lines.append(f"{code} {variant} {rng.randint(1, weight // 2 + 1)} 0")
        for junk in _NOT_ARTICLES:
            lines.append(f"{code} {junk} {rng.randint(1, 3000)} 0")
    for code in _OTHER_CODES:
        for title in ("Main_Page", "Albert_Einstein", "Tiramisu", "Quiet_article_A"):
            lines.append(f"{code} {title} {rng.randint(1, 90000)} 0")
    lines.extend(_BAD_LINES)
    rng.shuffle(lines)
    lines.sort(key=lambda line: line.split(" ", 1)[0])  # the real files are grouped by domain code
    return lines


def generate_tree(
    root: Path,
    start: date,
    days: int = 7,
    *,
    wiki: str = "enwiki",
    layout: str = "normalised",
    missing: Sequence[datetime] = (),
    dump_date: str = "latest",
    seed: int = 42,
    burst: datetime | None = None,
) -> dict[str, Any]:
    """Write a dumps tree under `root` and return what was made (start, days, missing hours...).

    `burst`: the hourly file (its timestamp) where `BURST_TITLE` gets `BURST_VIEWS` more desktop
    views, automated-looking traffic the top's flags must catch (see `add_burst`).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}")
    language = wiki.removesuffix("wiki").replace("_", "-")
    codes = (language, f"{language}.m")
    rng = random.Random(seed)
    missing_set = set(missing)
    written = 0
    for offset in range(days):
        for ts in day_file_times(start + timedelta(days=offset)):
            lines = hour_lines(ts, codes, rng)
            if ts == burst:
                lines = add_burst(lines, codes[0])
            if ts in missing_set:
                continue
            path = root / hourly_relative(ts)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode("utf-8"), mtime=0))
            written += 1
    model = build_wiki()
    for table, data in dump_tables(model, wiki, layout).items():
        path = root / dump_relative(wiki, dump_date, table)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(gzip.compress(data, mtime=0))
    truth = {
        "pages": model.pages,
        "redirects": model.redirects,
        "links": model.links,
        "props": model.props,
    }
    (root / TRUTH_DIR).mkdir(parents=True, exist_ok=True)
    (root / TRUTH_DIR / f"{wiki}.json").write_text(json.dumps(truth, ensure_ascii=False))
    info = {
        "start_date": start.isoformat(),
        "days": days,
        "wiki": wiki,
        "layout": layout,
        "dump_date": dump_date,
        "missing": [hourly_relative(ts) for ts in sorted(missing_set)],
        "hourly_files": written,
    }
    log.info("generated %d hourly files and %d SQL dumps under %s", written, len(TABLES), root)
    return info


BURST_TITLE = "Cheesecake"
BURST_VIEWS = 40000
# The demo's burst: the fourth day, the hour ending 15:00 UTC.
DEMO_BURST = datetime.combine(DEMO_START + timedelta(days=3), datetime.min.time()) + timedelta(hours=15)


def add_burst(lines: list[str], desktop: str) -> list[str]:
    """The hour's lines with `BURST_VIEWS` more desktop views of `BURST_TITLE` (no random draw, so
    every other line of the tree stays as it was)."""
    out = []
    for line in lines:
        fields = line.split(" ")
        if len(fields) == 4 and fields[0] == desktop and fields[1] == BURST_TITLE:
            fields[2] = str(int(fields[2]) + BURST_VIEWS)
        out.append(" ".join(fields))
    return out


def generate_demo(root: Path) -> dict[str, Any]:
    """The demo's 7-day sample (a few KB per file), one hour missing on the third day, and a burst
    of automated-looking views of one article on the fourth (`DEMO_BURST`)."""
    missing = [datetime.combine(DEMO_START + timedelta(days=2), datetime.min.time()) + timedelta(hours=6)]
    return generate_tree(root, DEMO_START, 7, missing=missing, burst=DEMO_BURST)


# --- the answers, recomputed in plain Python ----------------------------------------------------


def expected_answers(
    root: Path, start_date: date | str, days: int = 7, wiki: str = "enwiki"
) -> dict[str, Any]:
    """The contract's answers for each day, from the files under `root` (no Spark, no job code).

    Returns `{day: {"hours", "complete", "most_requested", "least_requested", "top_categories"}}`
    shaped like `GET /wikipedia/days/{day}` (without `day`/`wiki`).
    """
    start = date.fromisoformat(start_date) if isinstance(start_date, str) else start_date
    truth = json.loads((root / TRUTH_DIR / f"{wiki}.json").read_text())
    pages = {(ns, title): (pid, red) for pid, ns, title, red in truth["pages"]}
    by_id = {pid: (ns, title, red) for pid, ns, title, red in truth["pages"]}
    articles = {title for (ns, title), (_, red) in pages.items() if ns == 0 and not red}
    resolve = {title: title for title in articles}
    for source, ns, target, interwiki in truth["redirects"]:
        src_ns, src_title, red = by_id[source]
        if src_ns == 0 and red and ns == 0 and not interwiki and target in articles:
            resolve[src_title] = target
    hidden = {by_id[p][1] for p, name, _ in truth["props"] if name == "hiddencat" and by_id[p][0] == 14}
    members: dict[str, set[str]] = defaultdict(set)
    for page_id, category, kind in truth["links"]:
        ns, title, red = by_id[page_id]
        if kind == "page" and ns == 0 and not red and category not in hidden:
            members[category].add(title)
    language = wiki.removesuffix("wiki").replace("_", "-")
    codes = {language, f"{language}.m"}
    answers: dict[str, Any] = {}
    for offset in range(days):
        day = start + timedelta(days=offset)
        views: dict[str, int] = defaultdict(int)
        hours = 0
        for ts in day_file_times(day):
            path = root / hourly_relative(ts)
            if not path.exists():
                continue
            hours += 1
            for raw in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
                fields = raw.split(" ")
                if len(fields) != 4 or fields[0] not in codes or not fields[2].isdigit():
                    continue
                article = resolve.get(ucfirst(fields[1]))
                if article is not None and article != "Main_Page" and int(fields[2]) > 0:
                    views[article] += int(fields[2])
        most = min(views.items(), key=lambda kv: (-kv[1], kv[0])) if views else None
        least = min(views.items(), key=lambda kv: (kv[1], kv[0])) if views else None
        categories = []
        for category, titles in members.items():
            seen = [views[t] for t in titles if views.get(t, 0) > 0]
            if seen:
                categories.append((category, sum(seen), len(seen)))
        categories.sort(key=lambda c: (-c[1], c[0]))
        answers[day.isoformat()] = {
            "hours": hours,
            "complete": hours == 24,
            "most_requested": {"title": most[0], "views": most[1]} if most else None,
            "least_requested": (
                {
                    "title": least[0],
                    "views": least[1],
                    "ties": sum(1 for v in views.values() if v == least[1]),
                }
                if least
                else None
            ),
            "top_categories": [
                {"rank": i + 1, "category": c, "views": v, "articles": n}
                for i, (c, v, n) in enumerate(categories[:5])
            ],
        }
    return answers


# --- big files for the benchmark ------------------------------------------------------------------

_BENCH_CODES = (
    ("en", 0.16),
    ("en.m", 0.2),
    ("de", 0.07),
    ("de.m", 0.06),
    ("ja.m", 0.05),
    ("fr", 0.05),
    ("fr.m", 0.04),
    ("es.m", 0.05),
    ("ru", 0.04),
    ("commons.m", 0.05),
    ("en.d", 0.02),
    ("en.b", 0.01),
    ("it.m", 0.04),
    ("zh", 0.03),
    ("pt.m", 0.03),
    ("pl", 0.02),
    ("www.wd", 0.04),
    ("nl", 0.02),
    ("sv", 0.01),
    ("en.q", 0.01),
)


_BENCH_WORDS = tuple(
    f"{w}{i}" for i, w in enumerate(("Alpha", "Beta", "Gamma", "Delta", "Épsilon", "Zeta", "Eta", "東京"))
)


def bench_vocabulary() -> list[str]:
    """The 200,000 titles of the benchmark's hourly files (one vocabulary for every hour, as real
    hours share their titles)."""
    shared = random.Random(1234)
    return [
        "_".join(shared.choice(_BENCH_WORDS) for _ in range(shared.randint(1, 4))) + f"_{n}"
        for n in range(200_000)
    ]


def build_bench_wiki() -> Wiki:
    """`build_wiki` plus the benchmark's vocabulary: every title an article (a tenth of them also
    reached through a redirect), each in the category of its first word, and every fifth in a
    second one; the whole job then resolves and ranks real work, not an empty join."""
    wiki = build_wiki()
    categories = [f"Bench_{word}" for word in _BENCH_WORDS]
    for category in categories:
        wiki.add_page(14, category)
    for n, title in enumerate(bench_vocabulary()):
        page = wiki.add_page(0, title)
        first = _BENCH_WORDS.index(title.split("_", 1)[0])
        wiki.links.append((page, categories[first], "page"))
        if n % 5 == 0:
            wiki.links.append((page, categories[(first + 1) % len(categories)], "page"))
        if n % 10 == 0:
            wiki.redirects.append((wiki.add_page(0, f"Redirect_to_{n}", redirect=True), 0, title, ""))
    return wiki


def write_bench_file(path: Path, lines: int = 1_000_000, seed: int = 0) -> None:
    """An hourly file of realistic shape: codes in blocks, Zipf-like titles, mostly small counts."""
    rng = random.Random(seed)
    vocabulary = bench_vocabulary()
    namespaces = ("", "", "", "", "", "", "Special:", "Talk:", "File:", "Category:", "Wikipedia:")
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=6, newline="\n") as out:
        for code, share in _BENCH_CODES:
            count = int(lines * share)
            buf = []
            for _ in range(count):
                index = (
                    min(int(rng.paretovariate(0.8)) - 1, len(vocabulary) - 1)
                    if rng.random() < 0.3
                    else (rng.randrange(len(vocabulary)))
                )
                title = rng.choice(namespaces) + vocabulary[index]
                views = 1 if rng.random() < 0.6 else int(rng.paretovariate(1.2))
                buf.append(f"{code} {title} {views} 0\n")
            out.write("".join(buf))


_MYSQLDUMP_BYTE_ESCAPES = {0: b"\\0", 10: b"\\n", 13: b"\\r", 26: b"\\Z", 34: b'\\"', 39: b"\\'", 92: b"\\\\"}


def _sql_bytes(raw: bytes) -> bytes:
    """A binary value as mysqldump writes it (the escapes it uses, every other byte raw)."""
    return b"'" + b"".join(_MYSQLDUMP_BYTE_ESCAPES.get(b, bytes((b,))) for b in raw) + b"'"


def write_bench_categorylinks(
    path: Path, rows: int = 2_000_000, seed: int = 0, per_insert: int = 10_000
) -> int:
    """An enwiki-shaped `categorylinks` dump (legacy layout, as enwiki published it until 2025).

    Rows in primary-key order (`cl_from`, then `cl_to`), a few categories per page drawn from a
    Zipf-like vocabulary (some titles non-ASCII or with a quote), binary UCA sort keys (bytes that
    need escapes), long INSERT lines. Returns the uncompressed size in bytes.
    """
    rng = random.Random(seed)
    stems = (
        "Living_people",
        "births",
        "deaths",
        "Articles_with_short_description",
        "People_from_",
        "Albums",
        "Rock_'n'_roll_songs",
        "Villes_de_France",
        "東京都の区",
        "Écrivains",
        "Cities_in_",
        "Species",
    )
    vocabulary = [f"{rng.choice(stems)}_{n}" if n > 3 else rng.choice(stems) for n in range(150_000)]
    kinds = [b"'page'"] * 18 + [b"'subcat'", b"'file'"]
    columns = [(c, _CL_TYPES[c]) for c in CATEGORYLINKS_COLUMNS["legacy"]]
    head = render_dump("enwiki", "categorylinks", columns, []).split(
        b"/*!40000 ALTER TABLE `categorylinks` ENABLE"
    )[0]
    size = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wb", compresslevel=6) as out:
        out.write(head)
        size += len(head)
        page, written, batch = 10, 0, []
        while written < rows:
            page += rng.randint(1, 30)
            names = {
                vocabulary[min(int(rng.paretovariate(0.7)) - 1, len(vocabulary) - 1)]
                for _ in range(rng.randint(1, 6))
            }
            for name in sorted(names):
                if written == rows:
                    break
                sortkey = bytes(rng.randrange(256) for _ in range(rng.randint(4, 12)))
                day = f"20{rng.randint(10, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
                stamp = f"'{day} 0{rng.randint(0, 9)}:2{rng.randint(0, 9)}:19'"
                batch.append(
                    b"(%d,%s,%s,%s,'','uca-default-u-kn',%s)"
                    % (page, sql_value(name).encode(), _sql_bytes(sortkey), stamp.encode(), rng.choice(kinds))
                )
                written += 1
                if len(batch) == per_insert or written == rows:
                    line = b"INSERT INTO `categorylinks` VALUES " + b",".join(batch) + b";\n"
                    out.write(line)
                    size += len(line)
                    batch = []
        tail = b"/*!40000 ALTER TABLE `categorylinks` ENABLE KEYS */;\n\n-- Dump completed\n"
        out.write(tail)
        size += len(tail)
    return size


def main() -> None:
    parser = argparse.ArgumentParser(description="Write a synthetic Wikimedia dumps tree")
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--start-date", type=date.fromisoformat, default=DEMO_START)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--layout", choices=LAYOUTS, default="normalised")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO)
    missing = [
        datetime.combine(args.start_date + timedelta(days=2), datetime.min.time()) + timedelta(hours=6)
    ]
    info = generate_tree(args.root, args.start_date, args.days, layout=args.layout, missing=missing)
    log.info("%s", json.dumps(info))


if __name__ == "__main__":
    main()


def expected_top(root: Path, start_date: date | str, days: int = 7, wiki: str = "enwiki") -> dict[str, Any]:
    """Each day's top articles with their signals, recomputed from the files (no Spark, no job
    code): `{day: [{"rank", "title", "views", "mobile_share", "peak_hour_share", "flags"}]}`,
    with the thresholds the contract documents (0.5 of the views in one hour on a day of at least
    100 views, 0.4 from the day's median mobile share, 10 times the mean of the run's previous
    days)."""
    start = date.fromisoformat(start_date) if isinstance(start_date, str) else start_date
    truth = json.loads((root / TRUTH_DIR / f"{wiki}.json").read_text())
    by_id = {pid: (ns, title, red) for pid, ns, title, red in truth["pages"]}
    articles = {title for ns, title, red in by_id.values() if ns == 0 and not red}
    resolve = {title: title for title in articles}
    for source, ns, target, interwiki in truth["redirects"]:
        src_ns, src_title, red = by_id[source]
        if src_ns == 0 and red and ns == 0 and not interwiki and target in articles:
            resolve[src_title] = target
    language = wiki.removesuffix("wiki").replace("_", "-")
    desktop, mobile = language, f"{language}.m"
    history: list[dict[str, int]] = []
    out: dict[str, Any] = {}
    for offset in range(days):
        day = start + timedelta(days=offset)
        cells: dict[str, dict[tuple[str, bool], int]] = defaultdict(lambda: defaultdict(int))
        for ts in day_file_times(day):
            path = root / hourly_relative(ts)
            if not path.exists():
                continue
            for raw in gzip.decompress(path.read_bytes()).decode("utf-8").splitlines():
                fields = raw.split(" ")
                if len(fields) != 4 or fields[0] not in (desktop, mobile) or not fields[2].isdigit():
                    continue
                article = resolve.get(ucfirst(fields[1]))
                if article is not None and article != "Main_Page" and int(fields[2]) > 0:
                    cells[article][(hourly_relative(ts), fields[0] == mobile)] += int(fields[2])
        totals = {a: sum(c.values()) for a, c in cells.items()}
        ranked = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))[:100]
        entries: list[dict[str, Any]] = []
        for rank, (title, views) in enumerate(ranked, start=1):
            per_hour: dict[str, int] = defaultdict(int)
            for (hour, _), n in cells[title].items():
                per_hour[hour] += n
            mobile_views = sum(n for (_, is_mobile), n in cells[title].items() if is_mobile)
            entries.append(
                {
                    "rank": rank,
                    "title": title,
                    "views": views,
                    "mobile_share": mobile_views / views,
                    "peak_hour_share": max(per_hour.values()) / views,
                }
            )
        shares = sorted(e["mobile_share"] for e in entries)
        half = len(shares) // 2
        median = (
            (shares[half] if len(shares) % 2 else (shares[half - 1] + shares[half]) / 2) if shares else 0.0
        )
        for entry in entries:
            flags = []
            if entry["peak_hour_share"] >= 0.5 and entry["views"] >= 100:
                flags.append("peak_hour")
            if abs(entry["mobile_share"] - median) >= 0.4:
                flags.append("mobile_share")
            if history:
                mean = sum(h.get(entry["title"], 0) for h in history) / len(history)
                if entry["views"] / max(mean, 1.0) >= 10.0:
                    flags.append("spike")
            entry["flags"] = flags
        history.append(totals)
        out[day.isoformat()] = entries
    return out
