"""The GitHub client, crawl and transforms on real recorded API answers (../shared/real/github).

192 real commit objects (one with `author: null`), `page=` and legacy `last_sha` Link cursors, a
304 to a conditional request, and a primary-limit 403 from the era without `x-ratelimit-reset`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from emulators import github as emulator
from emulators.github_data import generate_org
from jobs.github_contributors import crawl, load, transform
from jobs.github_contributors.client import UNKNOWN_RESET_WAIT, GitHubClient
from tests.real.conftest import real_path
from tests.real.replay import GITHUB, ReplayServer, header, load_exchanges, serve

pytestmark = pytest.mark.unit

PYGITHUB_2020 = "pygithub/Repository.testGetCommits.2020-10-12.txt"
SINCE_UNTIL = "pygithub/Repository.testGetCommitsWithSinceUntil.txt"
RAILS_ADMIN = "octokit-rb/Commits__commits_between__returns_all_commits_until_the_specified_date.json"
GITHUB3PY = "github3py/Repository_commits.json"
# The four commit listings: (recording, org, repo) as the crawl would name them.
LISTINGS = (
    (PYGITHUB_2020, "ahmad88me", "PyGithub"),
    (SINCE_UNTIL, "PyGithub", "PyGithub"),
    (RAILS_ADMIN, "sferik", "rails_admin"),
    (GITHUB3PY, "sigmavirus24", "github3.py"),
)


@pytest.fixture(scope="module")
def exchanges() -> list[dict[str, Any]]:
    return load_exchanges(real_path("github", "normalized", "exchanges.jsonl"))


def recorded(exchanges: list[dict[str, Any]], source: str, index: int | None = None) -> list[dict[str, Any]]:
    found = [e for e in exchanges if e["source"] == source and (index is None or e["index"] == index)]
    assert found, f"no recorded exchange {source} #{index}"
    return found


def commit_pages(exchanges: list[dict[str, Any]], source: str) -> list[dict[str, Any]]:
    return [e for e in recorded(exchanges, source) if "/commits" in e["url"] and e["status"] == 200]


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    yield from serve()


def local(server: ReplayServer, url: str) -> str:
    """A recorded URL as the replay server serves it (same path and query, its own host)."""
    return url.replace(GITHUB, server.url)


def test_the_recordings_hold_what_the_tests_rely_on(exchanges: list[dict[str, Any]]) -> None:
    commits = [
        c
        for source, _, _ in LISTINGS
        for page in commit_pages(exchanges, source)
        for c in json.loads(page["body"])
    ]
    assert len(commits) == 192
    assert sum(1 for c in commits if c["author"] is None) == 1


def test_page_cursors_are_followed_verbatim(exchanges: list[dict[str, Any]], replay: ReplayServer) -> None:
    """Page 1 lives under /repos/{owner}/{repo}; its `next` moves to /repositories/{id}?page=2."""
    pages = commit_pages(exchanges, PYGITHUB_2020)
    for page in pages:
        replay.queue(page["url"], page)
    client = GitHubClient(replay.url, [])
    got = list(itertools.islice(client.paginate("repos/ahmad88me/PyGithub/commits"), 3))
    assert [c["sha"] for page in got for c in page] == [
        c["sha"] for page in pages for c in json.loads(page["body"])
    ]
    assert len({c["sha"] for page in got for c in page}) == 90
    assert [path for path, _ in replay.requests] == [
        "/repos/ahmad88me/PyGithub/commits",
        "/repositories/288117702/commits?page=2",
        "/repositories/288117702/commits?page=3",
    ]


def test_legacy_cursor_window_reads_to_the_end_of_the_list(
    exchanges: list[dict[str, Any]], replay: ReplayServer
) -> None:
    """A since/until window over the 2013 `top=...&last_sha=...` cursor; page 2's Link has no `next`."""
    pages = commit_pages(exchanges, SINCE_UNTIL)
    for page in pages:
        replay.queue(page["url"], page)
    item = {
        "id": "w",
        "kind": "window",
        "org": "PyGithub",
        "repo": "PyGithub",
        "next_url": None,
        "stop": None,
        "since": "2013-03-01T00:00:00Z",
        "until": "2013-03-31T00:00:00Z",
    }
    result = crawl.run_window(GitHubClient(replay.url, []), item)
    assert result.meta["status"] == "ok" and result.meta["pages"] == 2
    assert [c["sha"] for c in result.commits] == [c["sha"] for p in pages for c in json.loads(p["body"])]
    assert len(result.commits) == 47
    cursor = header(pages[0], "link").split(">", 1)[0].removeprefix("<")  # type: ignore[union-attr]
    assert "last_sha=" in cursor
    assert replay.requests[1][0] == cursor.removeprefix(GITHUB)


def test_head_item_on_a_real_first_page(exchanges: list[dict[str, Any]], replay: ReplayServer) -> None:
    """A new repository: page 1 lands, and the verbatim `next` cursor is handed to the windows."""
    (page,) = commit_pages(exchanges, GITHUB3PY)
    replay.queue(page["url"], page)
    item = crawl.head_item("sigmavirus24", "github3.py", "2012-04-24T19:27:30Z", None, None)
    result = crawl.run_head(GitHubClient(replay.url, []), item)
    body = json.loads(page["body"])
    assert [c["sha"] for c in result.commits] == [c["sha"] for c in body]
    assert result.meta["complete"] is False
    assert result.meta["newest_sha"] == body[0]["sha"]
    assert result.meta["etag"] == header(page, "etag")
    assert result.meta["next_url"] == local(replay, _next(page))
    assert result.meta["estimate"] >= 1


def _rels(link: str) -> list[str]:
    return [part.split('rel="', 1)[1].split('"', 1)[0] for part in link.split(",") if 'rel="' in part]


def _next(exchange: dict[str, Any]) -> str:
    link = header(exchange, "link") or ""
    for part in link.split(","):
        url, _, rel = part.partition(";")
        if 'rel="next"' in rel:
            return url.strip().removeprefix("<").removesuffix(">")
    raise AssertionError(f"no next link in {link!r}")


def test_conditional_request_gets_the_recorded_304_for_free(
    exchanges: list[dict[str, Any]], replay: ReplayServer
) -> None:
    first = recorded(exchanges, "pygithub/ConditionalRequestUpdate.setUp.txt", 0)[0]
    not_modified = recorded(exchanges, "pygithub/ConditionalRequestUpdate.testDidNotUpdate.txt", 0)[0]
    updated = recorded(exchanges, "pygithub/ConditionalRequestUpdate.testDidUpdate.txt", 0)[0]
    replay.queue(first["url"], first, not_modified, updated)
    client = GitHubClient(replay.url, [])
    resp = client.get("repos/akfish/PyGithub")
    assert resp.status_code == 200
    etag = resp.headers["ETag"]
    assert etag == '"8600bedcb7fed1d8065e1693e05529ce"'
    again = client.get("repos/akfish/PyGithub", etag=etag)
    assert again.status_code == 304 and again.content == b""
    assert client.stats.not_modified == 1
    # The replay refuses a 304 to a request without the recorded ETag: the client sent it verbatim.
    assert replay.requests[1][1].get("If-None-Match") == etag
    changed = client.get("repos/akfish/PyGithub", etag=etag)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def test_primary_limit_403_without_reset_header_waits_then_retries(
    exchanges: list[dict[str, Any]], replay: ReplayServer
) -> None:
    """2013's 403 carried `x-ratelimit-remaining: 0` and no reset: the client must wait, not spin."""
    ok, limited = recorded(exchanges, "pygithub/SpecificExceptions.testRateLimitExceeded.txt")
    assert limited["status"] == 403 and header(limited, "x-ratelimit-reset") is None
    slept: list[float] = []

    def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        replay.queue(ok["url"], ok)  # time passed: the window has reset

    # A client that knows nothing meets the 403 (it repeats until the window resets).
    replay.queue(ok["url"], limited)
    client = GitHubClient(replay.url, [], sleep=fake_sleep)
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(client.get, "users/jacquev6")
        try:
            resp = call.result(timeout=20)
        except TimeoutError:
            replay.queue(ok["url"], ok)  # let the spinning client finish, then fail
            raise AssertionError(
                f"the client retried the 403 {len(replay.requests)} times without waiting"
            ) from None
    assert resp.status_code == 200 and resp.json()["login"] == "jacquev6"
    assert len(slept) == 1 and UNKNOWN_RESET_WAIT <= slept[0] <= UNKNOWN_RESET_WAIT + 2
    assert len(replay.requests) == 2
    assert client.stats.rate_limit_waits == 1

    # The recorded 200 before it already said `remaining: 0` (no reset): the next call waits first.
    replay.queue(ok["url"], ok, limited)
    replay.requests.clear()
    slept.clear()
    client = GitHubClient(replay.url, [], sleep=fake_sleep)
    assert client.get("users/jacquev6").status_code == 200
    assert client.get("users/jacquev6").status_code == 200
    assert len(slept) == 1 and len(replay.requests) == 2


def _identity(item: dict[str, Any]) -> str:
    """The contract's identity, written out again here (the oracle, independent of the Spark code)."""
    if item.get("author"):
        return str(item["author"]["login"]).lower()
    email = item["commit"]["author"].get("email") or ""
    return email.lower() if email else str(item["commit"]["author"]["name"])


def test_identities_and_first_months_of_192_real_commits(
    exchanges: list[dict[str, Any]], spark: Any, tmp_path: Path
) -> None:
    """Real commits -> the crawl's silver rows -> the job's Spark transforms, against a plain oracle."""
    rows, expected_first = [], {}
    for source, org, repo in LISTINGS:
        for page in commit_pages(exchanges, source):
            for item in json.loads(page["body"]):
                rows.append(crawl.flatten(org, repo, item, "2026-11-30T00:00:00Z"))
                key = (org, repo, _identity(item))
                when = datetime.fromisoformat(item["commit"]["author"]["date"].replace("Z", "+00:00"))
                expected_first[key] = min(when, expected_first.get(key, when))
    landed = tmp_path / "commits.jsonl"
    landed.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    commits = load.read_landed_commits(spark, str(tmp_path))
    assert commits.count() == 192

    firsts = transform.first_contributions(transform.with_contributor(commits)).collect()
    got = {(r["org"], r["repo"], r["contributor"]): r["first_at"] for r in firsts}
    assert set(got) == set(expected_first)
    for key, first_at in got.items():
        # PySpark hands a timestamp back as a naive wall time of the machine's zone.
        assert first_at.astimezone(UTC) == expected_first[key], key
    # The one `author: null` commit counts under its lower-cased commit e-mail.
    assert ("sferik", "rails_admin", "imageoptimiser@skatty.me") in got
    # One login under two `commit.author.name` spellings is one contributor.
    names = {r["author_name"] for r in rows if r["author_login"] == "sfdye"}
    assert len(names) == 2
    assert sum(1 for k in got if k[2] == "sfdye") == 1

    # The whole series of one repository, zero-filled up to the run month, against the oracle.
    # Created in November 2012 (built in SQL from a UTC string): the December 2012 firsts stay put.
    repos = spark.sql(
        "SELECT 'sferik' AS org, 'rails_admin' AS repo, TIMESTAMP'2012-11-15 00:00:00' AS created_at"
    )
    series, totals = transform.new_contributors(
        commits.where("repo = 'rails_admin'"), repos, date(2013, 2, 10)
    )
    months = {r["month"]: (r["new_contributors"], r["total_contributors"]) for r in series.collect()}
    per_month: dict[str, int] = {}
    for (_, repo, _), when in expected_first.items():
        if repo == "rails_admin":
            month = max(f"{when.year:04d}-{when.month:02d}", "2012-11")
            per_month[month] = per_month.get(month, 0) + 1
    running, expected = 0, {}
    for month in ("2012-11", "2012-12", "2013-01", "2013-02"):
        running += per_month.get(month, 0)
        expected[month] = (per_month.get(month, 0), running)
    assert months == expected
    assert (
        totals.collect()[0]["total_contributors"]
        == running
        == sum(1 for k in expected_first if k[1] == "rails_admin")
    )


def _shape(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """(key path, JSON type) of every leaf and object of a JSON value (list items under `[]`)."""
    kind = type(value).__name__ if value is not None else "null"
    yield prefix, kind
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _shape(inner, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list):
        for inner in value:
            yield from _shape(inner, f"{prefix}[]")


def test_emulator_commits_and_limits_have_the_real_shapes(
    exchanges: list[dict[str, Any]], tmp_path: Path
) -> None:
    """What the emulator serves exists in the real answers, with the same JSON types (null allowed)."""
    real: dict[str, set[str]] = {}
    for source, _, _ in LISTINGS:
        for page in commit_pages(exchanges, source):
            for item in json.loads(page["body"]):
                for path, kind in _shape(item):
                    real.setdefault(path, set()).add(kind)
    generate_org(tmp_path, "acme", repos=4, commits=120, seed=5)
    server = emulator.start(tmp_path, tokens=["tok"])
    try:
        client = GitHubClient(server.url, ["tok"])
        names = [r["name"] for r in client.get("orgs/acme/repos").json()]
        pages = [client.get(f"repos/acme/{name}/commits", params={"per_page": 10}) for name in names]
        page = next(p for p in pages if p.status_code == 200 and p.links.get("next"))
        for item in page.json():
            for path, kind in _shape(item):
                assert path in real, f"the emulator serves {path!r}, which real commits do not have"
                assert kind in real[path] or kind == "null", f"{path}: emulator {kind}, real {real[path]}"
        # A `Link` the way GitHub writes it: past page 1, the same relations in the same order.
        assert page.links["next"]["url"].startswith(server.url)
        second = client.get(page.links["next"]["url"])
        real_page_2 = commit_pages(exchanges, PYGITHUB_2020)[1]
        assert list(second.links) == [rel for rel in _rels(header(real_page_2, "link") or "")]
        server.set_budget("tok", 0, reset_in=600)
        limited = GitHubClient(server.url, ["tok"]).session.get(
            f"{server.url}/orgs/acme", headers={"Authorization": "Bearer tok"}
        )
    finally:
        server.stop()
    real_403 = recorded(exchanges, "pygithub/SpecificExceptions.testRateLimitExceeded.txt", 1)[0]
    assert limited.status_code == real_403["status"] == 403
    assert limited.headers["x-ratelimit-remaining"] == header(real_403, "x-ratelimit-remaining") == "0"
    assert "rate limit exceeded" in limited.json()["message"].lower()
    assert "rate limit exceeded" in json.loads(real_403["body"])["message"].lower()
