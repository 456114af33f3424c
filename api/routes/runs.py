"""The run ledger (ops/runs): every run of every job, newest first."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import ViewsDep
from api.models import Run, Runs
from api.routes.common import NOT_FOUND, UNAVAILABLE, JSONBytes, shown

router = APIRouter(prefix="/runs", tags=["runs"])
JOB = r"^[a-z][a-z0-9_]{0,63}$"
RUN_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


@router.get("", response_model=Runs, responses=UNAVAILABLE)
async def runs(
    views: ViewsDep,
    job: Annotated[str | None, Query(pattern=JOB, description="only this job, e.g. datagouv_catalog")] = None,
    status: Annotated[
        Literal["succeeded", "failed", "running", "abandoned"] | None, Query(description="only this outcome")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="at most this many runs")] = 100,
) -> JSONBytes:
    return JSONBytes(views.runs().select(job, status, limit))


@router.get("/{run_id}", response_model=Run, responses={**NOT_FOUND, **UNAVAILABLE})
async def run(views: ViewsDep, run_id: Annotated[str, Path(pattern=RUN_ID)]) -> JSONBytes:
    body = views.runs().bodies.get(run_id)
    if body is None:
        raise HTTPException(status_code=404, detail=f"no run '{shown(run_id)}' in the ledger")
    return JSONBytes(body)
