"""Which writes a rerun skips: crawl_state rows only of the repositories whose stored state moved."""

from __future__ import annotations

from datetime import UTC, datetime

from jobs.github_contributors.load import changed_states, crawl_state_rows, repos_predicate
from jobs.github_contributors.report import RunReport

NOW = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)
LATER = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


def _stored(rows: list[tuple[object, ...]]) -> dict[str, dict[str, object]]:
    names = ("org", "repo", "status", "etag", "newest_sha", "commits", "finished", "updated_at")
    return {row[1]: dict(zip(names, row, strict=True)) for row in rows}  # type: ignore[misc]


def test_all_304_rerun_leaves_crawl_state_alone_a_new_etag_does_not() -> None:
    heads = [
        {"repo": "a", "status": "ok", "etag": '"e1"', "newest_sha": "s1"},
        {"repo": "b", "status": "empty"},
    ]
    statuses = {"a": "ok", "b": "empty"}
    previous = _stored(crawl_state_rows("o", heads, statuses, {}, NOW))
    unchanged = [{"repo": "a", "status": "unchanged"}, {"repo": "b", "status": "empty"}]
    assert changed_states(crawl_state_rows("o", unchanged, statuses, previous, LATER), previous) == set()
    moved = [{"repo": "a", "status": "ok", "etag": '"e2"', "newest_sha": "s2"}, heads[1]]
    assert changed_states(crawl_state_rows("o", moved, statuses, previous, LATER), previous) == {"a"}
    # A repository gone from the listing: its stored row is to be removed.
    assert changed_states(crawl_state_rows("o", heads[:1], {"a": "ok"}, previous, LATER), previous) == {"b"}


def test_repos_predicate_quotes_names() -> None:
    expected = "org = 'acme' AND repo IN ('a-b', 'b.js', 'o''k')"
    assert repos_predicate("acme", {"b.js", "a-b", "o'k"}) == expected


def test_summary_line_says_where_the_write_time_went() -> None:
    report = RunReport("o")
    assert "no table rewritten" in report.line()
    report.stages.update({"write": 3.0, "merge": 1.25, "gold": 1.5})
    assert "write 3.0s (merge 1.2s, gold 1.5s)" in report.line()
