"""GitHub: repositories of the organization and their monthly new contributors."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import ViewsDep, unavailable
from api.models import Contributors, NewContributors, Repos
from api.routes.common import NOT_FOUND, UNAVAILABLE, JSONBytes, shown
from api.tables import DataUnavailableError
from api.views.github import job_command

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
    exclude_bots: Annotated[
        bool, Query(description="true: count only contributors that are not bots (noreply emails as logins)")
    ] = False,
) -> JSONBytes:
    if start is not None and end is not None and start > end:
        raise HTTPException(status_code=422, detail=f"inverted range: from={start} is after to={end}")
    view = views.github()
    if repo not in view.listed:
        raise _unknown(repo, view.org)
    if view.series_error is not None:
        raise unavailable(view.series_error)
    series = view.series[repo]
    if exclude_bots:
        human = view.humans.get(repo)
        if human is None:
            raise unavailable(f"no human series for '{shown(repo)}' yet: run `{job_command(view.org)}`")
        series = human
    return JSONBytes(series.window(repo, start, end))


@router.get("/repos/{repo}/contributors", response_model=Contributors, responses={**NOT_FOUND, **UNAVAILABLE})
async def contributors(
    views: ViewsDep,
    repo: Annotated[str, Path(description="repository name, as listed by /github/repos")],
) -> JSONBytes:
    view, people = views.github_and_contributors()
    if repo not in view.listed:
        raise _unknown(repo, view.org)
    if isinstance(people, DataUnavailableError):
        raise unavailable(str(people))
    return JSONBytes(people.body(view.org, repo))


def _unknown(repo: str, org: str) -> HTTPException:
    return HTTPException(
        status_code=404, detail=f"unknown repository '{shown(repo)}' in organization '{org}'"
    )
