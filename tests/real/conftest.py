"""Real recorded bytes of the three sources, read from `<repo>/../shared/real` (never committed).

They are other projects' data (see that folder's PROVENANCE.md), so the repository does not carry
them: a clone alone skips these tests and says why; CI, which lays `shared/` beside the clone,
runs them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# REAL_SAMPLES_DIR points elsewhere (e.g. a copy kept outside the clone); default: beside the clone.
REAL = Path(os.environ.get("REAL_SAMPLES_DIR") or REPO.parent / "shared" / "real")


def real_path(*parts: str) -> Path:
    """A file of the recorded samples, or a skip that names what is missing and where."""
    path = REAL.joinpath(*parts)
    if not REAL.is_dir():
        pytest.skip(
            f"real recorded samples not found: {REAL} is absent (they live beside the clone, not in it)"
        )
    if not path.exists():
        pytest.skip(f"real recorded sample {path} is absent")
    return path


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The folder of the recorded samples; skips with the reason when it is absent."""
    return real_path()
