"""Quality gates: write-audit-publish for the gold outputs of every job.

A job computes its gold rows, audits them with its gates (pure functions over DataFrames, in
`jobs/<job>/gates.py`) and publishes only if every gate passes. A failing gate ends the run with
one line naming the gate and a sample of offending keys; nothing is published, so the previous
gold tables, object and documents stay as they were.

`QUALITY_FAULT` (a setting, for tests and drills only) plants a named defect in the computed rows
just before the audit, to prove end to end that a gate stops a bad publish.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.errors import PlatformError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)
SAMPLE = 5


@dataclass(frozen=True)
class Violation:
    """A gate that failed: how many rows (or groups) break it, and a few of their keys."""

    gate: str
    count: int
    sample: tuple[str, ...]

    def line(self) -> str:
        keys = "; ".join(self.sample)
        more = ", ..." if self.count > len(self.sample) else ""
        return f"quality gate '{self.gate}' failed: {self.count} offending ({keys}{more}); nothing published"


class GateError(PlatformError):
    """A gate failed; the message is the violation's one line."""

    def __init__(self, violation: Violation) -> None:
        super().__init__(violation.line())
        self.violation = violation


def offending(gate: str, bad: DataFrame, keys: Sequence[str]) -> Violation | None:
    """A Violation when `bad` (the rows breaking `gate`) has any row; its sample is sorted by key."""
    sample_rows = bad.select(*keys).orderBy(*keys).limit(SAMPLE).collect()
    if not sample_rows:
        return None
    count = bad.count()
    sample = tuple("/".join("null" if row[k] is None else str(row[k]) for k in keys) for row in sample_rows)
    return Violation(gate, count, sample)


def enforce(job: str, violations: Iterable[Violation | None]) -> None:
    """Raise GateError for the first violation; log every gate's outcome."""
    found = [v for v in violations if v is not None]
    for violation in found[1:]:  # the first is the run's error line
        log.warning("%s: also %s", job, violation.line())
    if found:
        raise GateError(found[0])
    log.info("%s: every quality gate passed", job)


def audit(job: str, checks: Sequence[Callable[[], Violation | None]]) -> None:
    """Run the gates' checks (independent queries) side by side, then `enforce` their outcomes:
    one check's planning overlaps another's tasks."""
    with ThreadPoolExecutor(max_workers=max(1, len(checks)), thread_name_prefix="gate") as pool:
        enforce(job, list(pool.map(lambda check: check(), checks)))


def planted(fault: str | None, job: str, name: str) -> bool:
    """Whether QUALITY_FAULT asks to plant the defect `name` of `job` (`job.name`)."""
    return fault == f"{job}.{name}"
