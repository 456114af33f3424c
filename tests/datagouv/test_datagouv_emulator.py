"""The data.gouv.fr emulator: catalogue resources, stable redirects, files, runtime faults."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from emulators import datagouv as emulator
from emulators.datagouv_data import ORGANIZATION_COLUMNS, expected_tops, generate_demo


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[emulator.EmulatorServer]:
    root = tmp_path_factory.mktemp("dg-emu")
    generate_demo(root)
    running = emulator.start(root)
    yield running
    running.stop()


@pytest.mark.unit
def test_catalogue_lists_exports_that_can_be_downloaded(server: emulator.EmulatorServer) -> None:
    body = requests.get(f"{server.api_url}/datasets/{emulator.CATALOGUE_ID}/", timeout=5).json()
    models = {r["extras"]["csv-export:model"] for r in body["resources"]}
    assert {"dataset", "organization", "reuse"} <= models
    org = next(r for r in body["resources"] if r["extras"]["csv-export:model"] == "organization")
    resp = requests.get(org["url"], timeout=5)
    assert resp.status_code == 200
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    header = resp.content.split(b"\r\n", 1)[0].decode()
    assert header.count('"metric.dataservices"') == 2
    assert header == ";".join(f'"{c}"' for c in ORGANIZATION_COLUMNS)


@pytest.mark.unit
def test_stable_url_redirects_to_the_latest_file(server: emulator.EmulatorServer) -> None:
    url = f"{server.url}/fr/datasets/r/f868cca6-8da1-4369-a78d-47463f19a9a3"
    resp = requests.get(url, timeout=5, allow_redirects=False)
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/exports/export-dataset.csv")
    assert requests.get(url, timeout=5).content.startswith(b'"id";"title";')


@pytest.mark.unit
def test_faults_switch_at_runtime(server: emulator.EmulatorServer) -> None:
    api = f"{server.api_url}/datasets/{emulator.CATALOGUE_ID}/"
    requests.get(f"{server.url}/_emulator/faults?fail_next=1", timeout=5)
    assert requests.get(api, timeout=5).status_code == 503
    assert requests.get(api, timeout=5).status_code == 200
    server.set_faults(api_down=True)
    assert requests.get(api, timeout=5).status_code == 503
    server.clear_faults()
    assert requests.get(api, timeout=5).status_code == 200


@pytest.mark.unit
def test_demo_expected_tops_are_ordered_and_limited_to_30_orgs(tmp_path: Path) -> None:
    generate_demo(tmp_path)
    tops = expected_tops(tmp_path, "2026-01-07")
    assert tops and len({t["organization_id"] for t in tops}) <= 30
    keys = [(-t["organization_followers"], -t["dataset_followers"], t["dataset_id"]) for t in tops]
    assert keys == sorted(keys)


@pytest.mark.unit
def test_head_answers_the_size_without_a_body(server: emulator.EmulatorServer) -> None:
    resp = requests.head(f"{server.url}/exports/export-dataset.csv", timeout=5)
    assert resp.status_code == 200 and int(resp.headers["Content-Length"]) > 0 and resp.content == b""
