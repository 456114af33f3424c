"""Property-based run of schemathesis against the app's own OpenAPI schema: no input makes a 5xx.

Driven through hypothesis directly (`as_strategy`), bounded per operation and mode, because the
pytest plugin's lazy `from_fixture` does not work with the pytest 9 node API.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from api.main import create_app
from api.settings import ApiSettings
from emulators import lake_data

pytestmark = pytest.mark.unit
EXAMPLES = 40  # per operation and mode: 6 operations x 2 modes, a few seconds in all


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    api_settings = ApiSettings(lake_root=str(tmp_path_factory.mktemp("lake")), api_refresh_seconds=60)
    lake_data.write_all(api_settings)
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(api_settings))


def test_schema_lists_every_route(api_schema: Any) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert sorted(op.label for op in operations) == [
        "GET /datagouv/changes",
        "GET /datagouv/changes/titles",
        "GET /datagouv/tops",
        "GET /github/repos",
        "GET /github/repos/{repo}/contributors",
        "GET /github/repos/{repo}/new-contributors",
        "GET /health",
        "GET /metrics",
        "GET /runs",
        "GET /runs/{run_id}",
        "GET /wikipedia/days",
        "GET /wikipedia/days/{day}",
    ]


def _fuzz(operation: Any, mode: GenerationMode, seen: set[int], **fixed: Any) -> None:
    """Send up to EXAMPLES generated requests to one operation, recording the statuses."""

    @given(case=operation.as_strategy(generation_mode=mode, **fixed))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        seen.add(case.call_and_validate(checks=[not_a_server_error]).status_code)

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE  # nothing invalid to send to a route without parameters


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_no_server_error(api_schema: Any, mode: GenerationMode) -> None:
    statuses: dict[str, set[int]] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()
        _fuzz(operation, mode, statuses.setdefault(operation.label, set()))
    assert all(code < 500 for codes in statuses.values() for code in codes), statuses
    if mode is GenerationMode.POSITIVE:
        assert statuses["GET /health"] == {200}
    else:
        assert 422 in statuses["GET /github/repos/{repo}/new-contributors"]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_windows_of_a_known_repo(api_schema: Any, mode: GenerationMode) -> None:
    """Fuzz `from`/`to` on a repository that exists, so the window code runs, not only the 404."""
    operation = api_schema["/github/repos/{repo}/new-contributors"]["GET"]
    statuses: set[int] = set()
    _fuzz(operation, mode, statuses, path_parameters={"repo": "alpha"})
    assert statuses <= {200, 422}, statuses
    assert (200 in statuses) if mode is GenerationMode.POSITIVE else (422 in statuses)
