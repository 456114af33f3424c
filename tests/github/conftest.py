"""The GitHub emulator over a small generated org, shared by the client and pacing tests; a test
module that needs a bigger org overrides `data_root` (the `server` below then serves that one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators import github as emulator
from emulators.github_data import generate_org


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("gh")
    generate_org(root, "acme", repos=3, commits=50, seed=3)
    return root


@pytest.fixture
def server(data_root: Path) -> Iterator[emulator.EmulatorServer]:
    srv = emulator.start(data_root, tokens=["tok-a", "tok-b"])
    yield srv
    srv.stop()
