"""What a job's tables were last computed from, so a rerun on the same inputs rewrites nothing.

A job digests everything its outputs depend on (its arguments, what it read, its own code) with
`inputs_digest`. After a successful publish it records that digest and the versions its tables
were left at (`Published`); a later run whose digest is the same and whose tables are still at
those versions (nothing wrote them since, nobody deleted them) has nothing to recompute.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from common.storage import DeltaReader, RawStore
from common.tables import Table

# The sources a job's answers depend on besides its Python package: the JVM readers it loads.
SOURCE_SUFFIXES = (".py", ".java")


def source_digest(folders: Iterable[Path]) -> str:
    """sha256 of the source files under `folders`: a change to how outputs are computed changes
    it, a commit elsewhere in the project does not."""
    digest = hashlib.sha256()
    for folder in folders:
        for source in sorted(p for p in folder.rglob("*") if p.suffix in SOURCE_SUFFIXES):
            digest.update(str(source.relative_to(folder)).encode())
            digest.update(source.read_bytes())
    return digest.hexdigest()


def document_digest(document: Mapping[str, Any]) -> str:
    """sha256 of a JSON-able document, independent of its keys' order."""
    return hashlib.sha256(json.dumps(document, default=str, sort_keys=True).encode()).hexdigest()


def inputs_digest(inputs: Mapping[str, Any], sources: Sequence[Path]) -> str:
    """One digest of `inputs` (JSON-able, order-free) and of the code under `sources`."""
    return document_digest({"inputs": inputs, "code": source_digest(sources)})


def table_versions(reader: DeltaReader, tables: Sequence[Table]) -> dict[str, int | None]:
    """Each table's latest version (None where there is no table), read without Spark."""
    return {table.path: reader.version(table) for table in tables}


@dataclass(frozen=True)
class Published:
    """What a successful run left: the digests of its request and inputs, its tables' versions."""

    request: str
    inputs: str
    versions: dict[str, int | None]
    run_id: str | None

    @staticmethod
    def read(store: RawStore, relative: str) -> Published | None:
        """The record at `relative`, or None when there is none (or it is not one)."""
        text = store.read_text(relative)
        if text is None:
            return None
        try:
            return Published(**json.loads(text))
        except (TypeError, ValueError):
            return None

    def write(self, store: RawStore, relative: str) -> None:
        store.write_text(relative, json.dumps(asdict(self), sort_keys=True))

    def holds(self, versions: Mapping[str, int | None]) -> bool:
        """Whether the tables are exactly as this run left them (all present, none rewritten)."""
        return all(v is not None for v in self.versions.values()) and dict(versions) == self.versions
