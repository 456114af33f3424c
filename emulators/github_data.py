"""Synthetic GitHub organizations for the emulator, and the expected answers computed without Spark.

Layout under `root`:
    {org}/org.json              {"login": org, "repos": [{name, created_at, pushed_at, fork, archived,
                                  status: "ok" | "empty" | "gone"}]}
    {org}/commits/{repo}.jsonl  one commit object per line, as the commits endpoint returns it

`status` "empty" makes the commits endpoint answer 409, "gone" makes it answer 404 (a repository
deleted between listing and crawling). The expected series follow the contract's definitions
and are computed here in plain Python, independently of the job.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

END = datetime(2026, 10, 31, 12, 0, 0, tzinfo=UTC)
START = datetime(2015, 1, 1, tzinfo=UTC)
NAMES = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
    "nu",
    "xi",
    "omicron",
    "pi",
    "rho",
    "sigma",
    "tau",
    "upsilon",
    "phi",
    "chi",
    "psi",
    "omega",
]


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True)
class Person:
    """A contributor: a linked account (login) or only an email/name pair."""

    login: str | None
    email: str
    name: str


def _people(rng: random.Random, count: int) -> list[Person]:
    people: list[Person] = []
    for i in range(count):
        roll = rng.random()
        name = f"Dev {i:04d}"
        if roll < 0.6:
            # Mixed-case logins: identity is the lower-cased login.
            people.append(Person(f"Dev{i:04d}", f"dev{i}@users.example.com", name))
        elif roll < 0.95:
            # Unlinked email (author null); mixed case so lower-casing matters.
            people.append(Person(None, f"Dev{i}@Corp.Example.com", name))
        else:
            # Neither account nor email: the name is the identity.
            people.append(Person(None, "", name))
    return people


def _sha(*parts: object) -> str:
    return hashlib.sha1("|".join(str(p) for p in parts).encode()).hexdigest()


def commit_object(
    sha: str, person: Person, authored: datetime, committed: datetime, message: str
) -> dict[str, Any]:
    """A commit as `GET /repos/{o}/{r}/commits` lists it (the fields the crawler reads and a few more)."""
    account = None
    if person.login is not None:
        account = {"login": person.login, "id": int(sha[:7], 16), "type": "User"}
    return {
        "sha": sha,
        "commit": {
            "author": {"name": person.name, "email": person.email, "date": iso(authored)},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": iso(committed)},
            "message": message,
        },
        "author": account,
        "committer": None,
        "parents": [],
    }


def _skewed_counts(rng: random.Random, repos: int, total: int, skew: float) -> list[int]:
    """Zipf-like counts summing exactly to `total`, each at least 1, in random repo order."""
    if repos == 0:
        return []
    weights = [1.0 / (rank + 1) ** skew for rank in range(repos)]
    scale = max(0, total - repos) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    rest = total - sum(counts)
    i = 0
    while rest > 0:
        counts[i % repos] += 1
        rest -= 1
        i += 1
    rng.shuffle(counts)
    return counts


def _make_commits(
    rng: random.Random,
    people: list[Person],
    *,
    repo: str,
    count: int,
    created: datetime,
    end: datetime,
    tag: str,
) -> list[dict[str, Any]]:
    """`count` commits between creation (some imported history before it) and `end`."""
    span = max(1.0, (end - created).total_seconds())
    # Each repository has its own small community, a few heavy contributors and a long tail.
    team = rng.sample(people, k=min(len(people), max(2, int(count**0.6) + 1)))
    commits = []
    for i in range(count):
        if rng.random() < 0.05:
            committed = created - timedelta(seconds=rng.uniform(0, 365 * 86400))
        else:
            committed = created + timedelta(seconds=rng.random() * span)
        committed = committed.replace(microsecond=0)
        authored = committed - timedelta(seconds=int(rng.random() ** 4 * 40 * 86400))
        person = team[min(len(team) - 1, int(rng.random() ** 2 * len(team)))]
        sha = _sha(tag, repo, i)
        commits.append(commit_object(sha, person, authored, committed, f"change {i} of {repo}"))
    return commits


def _write_commits(path: Path, commits: list[dict[str, Any]], append: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a" if append else "w", encoding="utf-8") as fh:
        for item in commits:
            fh.write(json.dumps(item, separators=(",", ":")) + "\n")


def generate_org(
    root: Path,
    org: str,
    *,
    repos: int = 20,
    commits: int = 2000,
    seed: int = 0,
    skew: float = 0.9,
    empty: int = 1,
    gone: int = 1,
    people: int | None = None,
    end: datetime = END,
) -> None:
    """Write a synthetic organization: `repos` listed repositories, `commits` commits in all.

    The first `empty` repositories (in listing order) are empty (409), the next `gone` answer 404.
    """
    rng = random.Random(seed)
    folder = Path(root) / org
    (folder / "commits").mkdir(parents=True, exist_ok=True)
    pool = _people(rng, people or max(20, commits // 15))
    with_commits = repos - empty - gone
    counts = _skewed_counts(rng, max(0, with_commits), commits, skew)
    meta = []
    for i in range(repos):
        name = f"{NAMES[i % len(NAMES)]}-{i:03d}" if repos > len(NAMES) else NAMES[i]
        created = (START + timedelta(seconds=rng.random() * (END - START).total_seconds() * 0.8)).replace(
            microsecond=0
        )
        status = "empty" if i < empty else "gone" if i < empty + gone else "ok"
        repo_commits: list[dict[str, Any]] = []
        if status == "ok":
            repo_commits = _make_commits(
                rng,
                pool,
                repo=name,
                count=counts[i - empty - gone],
                created=created,
                end=end,
                tag=f"{org}:{seed}",
            )
        elif status == "gone":
            repo_commits = _make_commits(
                rng, pool, repo=name, count=5, created=created, end=end, tag=f"{org}:{seed}"
            )
        pushed = max((parse_iso(c["commit"]["committer"]["date"]) for c in repo_commits), default=created)
        meta.append(
            {
                "name": name,
                "created_at": iso(created),
                "pushed_at": iso(pushed),
                "fork": i % 7 == 3,
                "archived": i % 11 == 5,
                "status": status,
            }
        )
        _write_commits(folder / "commits" / f"{name}.jsonl", repo_commits)
    (folder / "org.json").write_text(json.dumps({"login": org, "repos": meta}, indent=1), encoding="utf-8")


def append_commits(
    root: Path,
    org: str,
    repo: str,
    count: int,
    *,
    seed: int = 1,
    new_people: int = 2,
    end: datetime | None = None,
) -> list[str]:
    """Push `count` newer commits to `repo` (some by brand-new people); returns their shas."""
    rng = random.Random(seed)
    path = Path(root) / org / "commits" / f"{repo}.jsonl"
    existing = load_commits(root, org, repo)
    last = max((parse_iso(c["commit"]["committer"]["date"]) for c in existing), default=END)
    stop = end or last + timedelta(days=20)
    people = [
        Person(f"Newcomer{seed}x{i}", f"new{seed}{i}@example.com", f"New {i}") for i in range(new_people)
    ]
    old = [
        Person(
            (c["author"] or {}).get("login"),
            c["commit"]["author"]["email"],
            c["commit"]["author"]["name"],
        )
        for c in existing[:20]
    ]
    pool = people + old
    added = []
    for i in range(count):
        committed = (
            last + timedelta(seconds=1 + rng.random() * max(1.0, (stop - last).total_seconds()))
        ).replace(microsecond=0)
        person = pool[i] if i < len(people) else rng.choice(pool)
        sha = _sha("append", org, repo, seed, i)
        added.append(commit_object(sha, person, committed, committed, f"new change {i}"))
    _write_commits(path, added, append=True)
    orgfile = Path(root) / org / "org.json"
    data = json.loads(orgfile.read_text(encoding="utf-8"))
    for item in data["repos"]:
        if item["name"] == repo and added:
            item["pushed_at"] = max(c["commit"]["committer"]["date"] for c in added)
    orgfile.write_text(json.dumps(data, indent=1), encoding="utf-8")
    return [c["sha"] for c in added]


def load_org(root: Path, org: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((Path(root) / org / "org.json").read_text(encoding="utf-8"))
    return data


def load_commits(root: Path, org: str, repo: str) -> list[dict[str, Any]]:
    path = Path(root) / org / "commits" / f"{repo}.jsonl"
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


# Automation and second identities, added by `add_automation`: (login, type, email, name).
# A `[bot]` app, an app seen only through its noreply email (author null), a listed User-typed
# robot, a human committing once through a noreply address (author null) and once through a
# second email the identity map (`IDENTITY_MAP`) merges into their first one.
AUTOMATION: list[tuple[str | None, str | None, str, str]] = [
    ("dependabot[bot]", "Bot", "49699333+dependabot[bot]@users.noreply.github.com", "dependabot[bot]"),
    (None, None, "41898282+github-actions[bot]@users.noreply.github.com", "github-actions[bot]"),
    ("facebook-github-bot", "User", "facebook-github-bot@users.noreply.github.com", "Facebook Community Bot"),
    ("renovate", "Bot", "bot@renovateapp.com", "Renovate Bot"),
    (None, None, "9001+Mona-Human@users.noreply.github.com", "Mona"),
    (None, None, "mona@old-laptop.local", "Mona"),
]
IDENTITY_MAP = (
    "# one person, two machines\nMona <mona-human@users.noreply.github.com> <mona@old-laptop.local>\n"
)


def add_automation(root: Path, org: str, per_repo: int = 3, seed: int = 99) -> None:
    """Give every readable repository commits by `AUTOMATION` accounts, inside its history.

    Separate from `generate_org`'s random stream, so the organizations the other tests and
    benches generate stay byte for byte what they were.
    """
    rng = random.Random(seed)
    data = load_org(root, org)
    for index, repo in enumerate(r for r in data["repos"] if r["status"] == "ok"):
        existing = load_commits(root, org, repo["name"])
        if not existing:
            continue
        dates = sorted(parse_iso(c["commit"]["committer"]["date"]) for c in existing)
        added = []
        for i, (login, kind, email, name) in enumerate(AUTOMATION):
            for j in range(per_repo):
                when = dates[rng.randrange(len(dates))] + timedelta(seconds=1 + j)
                sha = _sha("automation", org, repo["name"], i, j)
                item = commit_object(sha, Person(login, email, name), when, when, f"automated {i}.{j}")
                if login is not None and kind is not None:
                    item["author"]["type"] = kind
                added.append(item)
        if index % 2 == 1:
            added = added[: -2 * per_repo]  # Mona only in every other repository
        _write_commits(Path(root) / org / "commits" / f"{repo['name']}.jsonl", added, append=True)


def generate_demo(root: Path) -> None:
    """The small sample organization `demo-org`: 7 repositories, ~400 commits, one empty, one 404;
    bots and a human with a noreply and a mapped email in every repository (`add_automation`)."""
    generate_org(Path(root), "demo-org", repos=7, commits=400, seed=7, skew=1.0, people=40)
    add_automation(Path(root), "demo-org")


def identity(item: dict[str, Any]) -> str | None:
    """The contract's contributor identity of one commit."""
    author = item.get("author")
    if author and author.get("login"):
        return str(author["login"]).lower()
    info = item.get("commit", {}).get("author") or {}
    email = info.get("email") or ""
    if email:
        return str(email).lower()
    name = info.get("name")
    return None if name is None else str(name)


def _month(ts: datetime) -> str:
    return f"{ts.year:04d}-{ts.month:02d}"


def _months(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def expected_series(root: Path, org: str, run_date: date) -> dict[str, list[tuple[str, int, int]]]:
    """Per repository (404 ones left out): [(month, new_contributors, total_contributors), ...]."""
    run_month = f"{run_date.year:04d}-{run_date.month:02d}"
    out: dict[str, list[tuple[str, int, int]]] = {}
    for repo in load_org(root, org)["repos"]:
        if repo["status"] == "gone":
            continue
        created_month = _month(parse_iso(repo["created_at"]))
        firsts: dict[str, datetime] = {}
        if repo["status"] == "ok":
            for item in load_commits(root, org, repo["name"]):
                who = identity(item)
                if who is None:
                    continue
                when = parse_iso(item["commit"]["author"]["date"])
                if who not in firsts or when < firsts[who]:
                    firsts[who] = when
        new: dict[str, int] = {}
        for when in firsts.values():
            month = min(max(_month(when), created_month), run_month)
            new[month] = new.get(month, 0) + 1
        series = []
        total = 0
        for month in _months(created_month, run_month):
            total += new.get(month, 0)
            series.append((month, new.get(month, 0), total))
        out[repo["name"]] = series
    return out


BOT_LOGINS = frozenset({"facebook-github-bot"})
_NOREPLY = re.compile(r"(?i)^(?:[0-9]+\+)?([^@+]+)@users\.noreply\.github\.com$")


def addition_identity(item: dict[str, Any]) -> str | None:
    """The additions' identity: the contract's, except a noreply email counts as its login."""
    author = item.get("author")
    if author and author.get("login"):
        return str(author["login"]).lower()
    email = str((item.get("commit", {}).get("author") or {}).get("email") or "")
    found = _NOREPLY.match(email)
    return found.group(1).lower() if found else identity(item)


def is_bot(item: dict[str, Any], bot_logins: frozenset[str] = BOT_LOGINS) -> bool:
    author = item.get("author") or {}
    email = str((item.get("commit", {}).get("author") or {}).get("email") or "")
    noreply = _NOREPLY.match(email)
    login = str(author.get("login") or (noreply.group(1) if noreply else "")).lower()
    return (
        author.get("type") == "Bot"
        or login.endswith("[bot]")
        or email.split("@", 1)[0].lower().endswith("[bot]")
        or login in bot_logins
    )


def expected_contributors(root: Path, org: str) -> dict[str, list[tuple[str, str, str, int]]]:
    """Per readable repository: [(identity, kind, first commit ISO, commits)] in the API's order."""
    out: dict[str, list[tuple[str, str, str, int]]] = {}
    for repo in load_org(root, org)["repos"]:
        if repo["status"] != "ok":
            continue
        people: dict[str, list[Any]] = {}
        for item in load_commits(root, org, repo["name"]):
            who = addition_identity(item)
            if who is None:
                continue
            when = iso(parse_iso(item["commit"]["author"]["date"]))
            entry = people.setdefault(who, [when, False, 0])
            entry[0] = min(entry[0], when)
            entry[1] = entry[1] or is_bot(item)
            entry[2] += 1
        rows = [(who, "bot" if e[1] else "human", e[0], e[2]) for who, e in people.items()]
        out[repo["name"]] = sorted(rows, key=lambda r: (r[2], r[0]))
    return out


def _new_per_month(
    firsts: dict[str, tuple[datetime, bool]], span: tuple[str, str], *, bots: bool
) -> dict[str, int]:
    new: dict[str, int] = {}
    for when, bot in firsts.values():
        if bot == bots:
            month = min(max(_month(when), span[0]), span[1])
            new[month] = new.get(month, 0) + 1
    return new


def expected_humans(
    root: Path, org: str, run_date: date, merge: dict[str, str] | None = None
) -> dict[str, list[tuple[str, int, int, int]]]:
    """Per repository (404 ones left out): [(month, new_humans, new_bots, new_humans_merged)].

    `merge` maps an addition identity to the identity it is merged into (the identity map's effect
    on these data, spelled out by the test)."""
    merge = merge or {}
    run_month = f"{run_date.year:04d}-{run_date.month:02d}"
    out: dict[str, list[tuple[str, int, int, int]]] = {}
    for repo in load_org(root, org)["repos"]:
        if repo["status"] == "gone":
            continue
        created_month = _month(parse_iso(repo["created_at"]))
        firsts: dict[str, tuple[datetime, bool]] = {}
        merged: dict[str, tuple[datetime, bool]] = {}
        commits = load_commits(root, org, repo["name"]) if repo["status"] == "ok" else []
        for item in commits:
            who = addition_identity(item)
            if who is None:
                continue
            when, bot = parse_iso(item["commit"]["author"]["date"]), is_bot(item)
            for table, key in ((firsts, who), (merged, merge.get(who, who))):
                seen = table.get(key)
                table[key] = (min(seen[0], when), seen[1] or bot) if seen else (when, bot)
        span = (created_month, run_month)
        humans, bots = _new_per_month(firsts, span, bots=False), _new_per_month(firsts, span, bots=True)
        humans_merged = _new_per_month(merged, span, bots=False)
        out[repo["name"]] = [
            (m, humans.get(m, 0), bots.get(m, 0), humans_merged.get(m, 0))
            for m in _months(created_month, run_month)
        ]
    return out
