"""data.gouv.fr: mobility and transport datasets of the top 30 organizations, per run date."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from api.deps import ViewsDep
from api.models import Changes, ChangeTitles, Tops
from api.routes.common import NOT_FOUND, UNAVAILABLE, JSONBytes

router = APIRouter(prefix="/datagouv", tags=["datagouv"])
DATE = r"^\d{4}-\d{2}-\d{2}$"


RunDate = Annotated[str | None, Query(pattern=DATE, description="YYYY-MM-DD; the latest run date by default")]


def _valid(run_date: str) -> None:
    try:
        date.fromisoformat(run_date)
    except ValueError:
        raise HTTPException(
            status_code=422, detail=f"'{run_date}' is not a valid date (YYYY-MM-DD)"
        ) from None


def _by_run_date(view_of: Callable[[], Any], run_date: str | None) -> JSONBytes:
    """The body of one run date (the latest when none is given): 422 for a bad date, 404 unknown.

    The date is checked before the table is looked up, so a bad date is 422 even with no table.
    """
    if run_date is None:
        view = view_of()
        return JSONBytes(view.bodies[view.latest])
    _valid(run_date)
    body = view_of().bodies.get(run_date)
    if body is None:
        raise HTTPException(status_code=404, detail=f"no data.gouv.fr run on {run_date}")
    return JSONBytes(body)


@router.get("/tops", response_model=Tops, responses={**NOT_FOUND, **UNAVAILABLE})
async def tops(views: ViewsDep, run_date: RunDate = None) -> JSONBytes:
    return _by_run_date(views.datagouv, run_date)


@router.get("/changes", response_model=Changes, responses={**NOT_FOUND, **UNAVAILABLE})
async def changes(views: ViewsDep, run_date: RunDate = None) -> JSONBytes:
    """Datasets added, removed and changed (title, organization, followers) since the previous run date."""
    return _by_run_date(views.datagouv_changes, run_date)


@router.get("/changes/titles", response_model=ChangeTitles, responses={**NOT_FOUND, **UNAVAILABLE})
async def change_titles(views: ViewsDep, run_date: RunDate = None) -> JSONBytes:
    """The titles of the datasets `/datagouv/changes` lists for the run date (ids where none was kept)."""
    return _by_run_date(lambda: views.datagouv_changes().titles, run_date)
