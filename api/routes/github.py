"""GitHub: repositories of the organization and their monthly new contributors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import ViewsDep
from api.models import NewContributors, Repos
from api.routes.common import NOT_FOUND, UNAVAILABLE, JSONBytes

router = APIRouter(prefix="/github", tags=["github"])
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"


@router.get("/repos", response_model=Repos, responses=UNAVAILABLE)
async def list_repos(views: ViewsDep) -> JSONBytes:
    return JSONBytes(views.github().repos_body)


@router.get(
    "/repos/{repo}/new-contributors",
    response_model=NewContributors,
    responses={**NOT_FOUND, **UNAVAILABLE},
)
async def new_contributors(
    views: ViewsDep,
    repo: Annotated[str, Path(description="repository name, as listed by /github/repos")],
    start: Annotated[
        str | None, Query(alias="from", pattern=MONTH, description="first month, YYYY-MM (included)")
    ] = None,
    end: Annotated[
        str | None, Query(alias="to", pattern=MONTH, description="last month, YYYY-MM (included)")
    ] = None,
) -> JSONBytes:
    if start is not None and end is not None and start > end:
        raise HTTPException(status_code=422, detail=f"inverted range: from={start} is after to={end}")
    view = views.github()
    series = view.series.get(repo)
    if series is None:
        raise HTTPException(
            status_code=404, detail=f"unknown repository '{repo}' in organization '{view.org}'"
        )
    return JSONBytes(series.window(repo, start, end))
