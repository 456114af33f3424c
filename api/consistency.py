"""Which version of each table of a group the API serves, so that a group never mixes two runs.

A job publishes its gold tables as separate Delta commits, seconds apart, each carrying the run's
id as commit `userMetadata` (`common.spark.start_session`). From the tables' recent history and the
run ledger (docs/contract.md, section 5):

- a commit is *held* when its run committed to some but not all of the group's tables and the
  ledger does not record that run as succeeded (it is still publishing, or it failed or was killed
  part-way through);
- each table is served at its newest commit that is not held.

A run's tables therefore switch together when its last one lands; a run that succeeded having
rewritten only some tables is served when it ends (it will commit nothing more); a commit without
a run id (a hand fix, a tool) is served at once; a failed run's partial publish is never served,
the tables keep the versions before it until a later run commits to them. Nothing waits on a run
that has ended, so no table is held back forever.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# The commitInfo field a job's commits carry its run id in (Spark fills it from
# `spark.databricks.delta.commitInfo.userMetadata`, see common.spark.COMMIT_TAG_CONF).
RUN_ID = "userMetadata"
# Commits read per table when a version changes (a run commits once or twice per table): the runs
# that matter are the last few, and on S3 each commit read is a GET.
WINDOW = 20


@dataclass(frozen=True)
class Commit:
    version: int
    run_id: str | None  # None: written by hand or by a tool, outside any run


def commits_of(history: Iterable[Mapping[str, Any]]) -> list[Commit]:
    """delta-rs `history()` entries as commits, newest first."""
    commits = [Commit(int(info["version"]), _run_id(info)) for info in history if "version" in info]
    commits.sort(key=lambda c: c.version, reverse=True)
    return commits


def _run_id(info: Mapping[str, Any]) -> str | None:
    value = info.get(RUN_ID)
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class Cut:
    """The versions served (None: the table is not there yet for the API) and the runs held back."""

    versions: dict[str, int | None]
    held: frozenset[str]  # runs with a commit newer than a served version: the ledger may release them


def partial_runs(histories: Mapping[str, Sequence[Commit]]) -> frozenset[str]:
    """Runs with a commit in some of the group's tables but not in all of them."""
    runs = [frozenset(c.run_id for c in commits if c.run_id is not None) for commits in histories.values()]
    if not runs:
        return frozenset()
    return frozenset.union(*runs) - frozenset.intersection(*runs)


def choose(histories: Mapping[str, Sequence[Commit]], succeeded: Callable[[], frozenset[str]]) -> Cut:
    """Each table's newest commit not held (histories newest first, of the tables that exist).

    `succeeded` (the ledger's succeeded run ids) is called only when some run is partial. A table
    whose every listed commit is held is left out when its whole history was listed (a running
    run created it), else served at its newest version: past the window nothing is known.
    """
    partial = partial_runs(histories)
    held = partial - succeeded() if partial else frozenset()
    versions: dict[str, int | None] = {}
    behind: set[str] = set()
    for path, commits in histories.items():
        chosen = next((c.version for c in commits if c.run_id not in held), None)
        if chosen is None and len(commits) >= WINDOW:
            chosen = commits[0].version
        versions[path] = chosen
        behind.update(c.run_id for c in commits if c.run_id and (chosen is None or c.version > chosen))
    return Cut(versions, frozenset(behind))
