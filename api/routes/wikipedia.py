"""Wikipedia: the computed days, and each day's most/least requested article and top categories."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import ViewsDep
from api.models import WikiDay, WikiDays
from api.routes.common import NOT_FOUND, UNAVAILABLE, JSONBytes, shown
from api.views.wikipedia import WikiView

router = APIRouter(prefix="/wikipedia", tags=["wikipedia"])
DAY = r"^\d{4}-\d{2}-\d{2}$"
WikiQuery = Annotated[
    str | None,
    Query(max_length=64, description="wiki database name, e.g. enwiki (default: enwiki if present)"),
]


def _wiki(view: WikiView, wiki: str | None) -> str:
    chosen = view.default_wiki if wiki is None else wiki
    if chosen not in view.days_body:
        raise HTTPException(status_code=404, detail=f"no day computed for wiki '{shown(chosen)}'")
    return chosen


@router.get("/days", response_model=WikiDays, responses={**NOT_FOUND, **UNAVAILABLE})
async def list_days(views: ViewsDep, wiki: WikiQuery = None) -> JSONBytes:
    view = views.wikipedia()
    return JSONBytes(view.days_body[_wiki(view, wiki)])


@router.get("/days/{day}", response_model=WikiDay, responses={**NOT_FOUND, **UNAVAILABLE})
async def get_day(
    views: ViewsDep,
    day: Annotated[str, Path(pattern=DAY, description="UTC day, YYYY-MM-DD")],
    wiki: WikiQuery = None,
) -> JSONBytes:
    try:
        date.fromisoformat(day)
    except ValueError:
        raise HTTPException(status_code=422, detail=f"'{day}' is not a valid date (YYYY-MM-DD)") from None
    view, top = views.wikipedia_with_top()
    chosen = _wiki(view, wiki)
    body = view.day_body.get((chosen, day))
    if body is None:
        raise HTTPException(status_code=404, detail=f"day {day} not computed for {chosen}")
    return JSONBytes(body if top is None else top.extend(chosen, day, body))
