"""Splitting a big repository into time windows loses nothing, duplicates nothing, costs few pages."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from emulators import github as emulator
from emulators.github_data import generate_org, load_commits, load_org
from jobs.github_contributors.client import GitHubClient
from jobs.github_contributors.crawl import head_item, plan_windows, run_head, run_window

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("budget", [0, 1, 3, 7])
def test_windows_partition_history_exactly(tmp_path: Path, budget: int) -> None:
    generate_org(tmp_path, "big", repos=3, commits=4200, seed=11, skew=2.0, empty=0, gone=0)
    server = emulator.start(tmp_path)
    try:
        client = GitHubClient(server.url, [])
        repos = load_org(tmp_path, "big")["repos"]
        heads, got = [], {}
        for repo in repos:
            item = head_item("big", repo["name"], repo["created_at"], None, None)
            result = run_head(client, item)
            heads.append({**result.meta, "created_at": repo["created_at"]})
            got.setdefault(repo["name"], []).extend(c["sha"] for c in result.commits)
        windows = plan_windows(heads, concurrency=16, extra_budget=budget)
        for window in windows:
            result = run_window(client, window)
            got[window["repo"]].extend(c["sha"] for c in result.commits)
        minimum = 0
        for repo in repos:
            expected = {c["sha"] for c in load_commits(tmp_path, "big", repo["name"])}
            assert sorted(got[repo["name"]]) == sorted(expected), repo["name"]
            minimum += math.ceil(len(expected) / 100)
        extra_windows = len(windows) - sum(1 for h in heads if not h["complete"])
        assert extra_windows <= budget
        assert server.stats()["requests"] <= minimum + extra_windows
        if budget >= 3:
            assert extra_windows >= 1
    finally:
        server.stop()
