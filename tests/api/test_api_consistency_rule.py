"""The consistent-reads rule (api.consistency) on commit histories, newest first as delta-rs lists them."""

from __future__ import annotations

import pytest

from api.consistency import Commit, choose

pytestmark = pytest.mark.unit


def _history(*runs: str | None) -> list[Commit]:
    """Commits oldest first as given, returned newest first as delta-rs lists them."""
    return [Commit(version, run) for version, run in reversed(list(enumerate(runs)))]


def test_rule_serves_the_newest_run_every_table_has() -> None:
    cut = choose({"a": _history("r1", "r2"), "b": _history("r1")}, frozenset)
    assert cut.versions == {"a": 0, "b": 0}
    assert cut.held == frozenset({"r2"})


def test_rule_releases_a_run_the_ledger_records_as_succeeded() -> None:
    cut = choose({"a": _history("r1", "r2"), "b": _history("r1")}, lambda: frozenset({"r2"}))
    assert cut.versions == {"a": 1, "b": 0}
    assert cut.held == frozenset()


def test_rule_skips_a_failed_partial_run_behind_a_complete_one() -> None:
    cut = choose({"a": _history("r1", "rf", "r3"), "b": _history("r1", "r3")}, frozenset)
    assert cut.versions == {"a": 2, "b": 1}


def test_rule_serves_untagged_commits_and_single_tables() -> None:
    assert choose({"a": _history(None, None), "b": _history(None)}, frozenset).versions == {"a": 1, "b": 0}
    assert choose({"a": _history("r1", "r2")}, frozenset).versions == {"a": 1}


def test_rule_leaves_out_a_table_whose_only_commits_are_held() -> None:
    """A table the running run created has no earlier version: it is not there yet for the API."""
    histories = {"a": _history("r1", "r2"), "b": _history("r1"), "c": _history("r2")}
    cut = choose(histories, lambda: frozenset({"r1"}))
    assert cut.versions == {"a": 0, "b": 0, "c": None}
