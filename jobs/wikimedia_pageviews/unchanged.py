"""A rerun on the very inputs the tables were last computed from recomputes nothing.

Reprocessing the same days after a retry or a scheduler's rerun would otherwise cost a whole
run (Spark, the aggregation, seven Delta commits) to write the same rows again. After each
successful run the job records what its answers were computed from (the request, the landed
hourly files and SQL dumps, its own code) and the versions its tables were left at; a run with
the same request and inputs, on tables no one has written since, ends after the landing.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from common.inputs import document_digest, inputs_digest
from common.ledger import PROJECT_ROOT, owned_tables
from jobs.wikimedia_pageviews.cli import Request
from jobs.wikimedia_pageviews.dimensions import DIMENSIONS_VERSION
from jobs.wikimedia_pageviews.extract import Landing

if TYPE_CHECKING:
    from common.runner import JobRun

# Every table the job writes (the ledger knows them): a change to any of them since the last
# run means recomputing.
TABLES = tuple(owned_tables("wikimedia_pageviews"))
# The code the answers depend on: this package and the JVM readers of the files and dumps.
SOURCES = (Path(__file__).parent, PROJECT_ROOT / "jvm" / "src")


class LastRun:
    """What the last successful run of the wiki computed its tables from, checked against this run
    (through the runner's record of it: `JobRun.published`, `unchanged`, `publish_record`)."""

    def __init__(self, job: JobRun, request: Request) -> None:
        self.job = job
        self.store = job.lake.store("raw", "wikimedia")
        self.marker = f"state/{request.wiki}-published.json"
        asked = {
            "wiki": request.wiki,
            "days": [day.isoformat() for day in request.days],
            "main_page": request.main_page,
            "sql_dump_date": request.sql_dump_date,
            "quality_fault": job.settings.quality_fault,
        }
        self.request = inputs_digest(asked, SOURCES)
        self.previous = job.published(self.store, self.marker)

    def same_request(self) -> bool:
        """Whether the last run asked for the same days the same way, and left the tables as they
        are now: the landing then decides (read before it, so a first run does not wait for it)."""
        return self.job.unchanged(self.previous, self.request, list(TABLES))

    def same_inputs(self, landing: Landing) -> bool:
        """Whether the landed files and dumps are also the ones the tables were computed from."""
        return self.previous is not None and self.previous.inputs == _landing_digest(landing)

    def record(self, landing: Landing) -> None:
        """After a successful run: its request, inputs and the versions it left the tables at."""
        self.job.publish_record(self.store, self.marker, self.request, _landing_digest(landing), list(TABLES))


def _landing_digest(landing: Landing) -> str:
    """The landed hourly files (immutable once published), the hours still missing, the dumps."""
    document = {
        "hourly": {day.isoformat(): list(hours.values()) for day, hours in sorted(landing.hourly.items())},
        "missing": sorted(landing.missing),
        "dumps": landing.dumps.fingerprint(DIMENSIONS_VERSION),
    }
    return document_digest(document)
