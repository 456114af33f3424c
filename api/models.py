"""Response models: they document the API in /openapi.json; the routes send pre-encoded bytes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class Error(BaseModel):
    detail: str = Field(description="what went wrong, or which job to run when a table is missing")


class Health(BaseModel):
    status: str = Field(examples=["ok"])


class Repo(BaseModel):
    repo: str
    created_at: datetime = Field(description="ISO 8601, UTC")
    total_contributors: int


class Repos(BaseModel):
    org: str
    repos: list[Repo] = Field(description="sorted by repo")


class Month(BaseModel):
    month: str = Field(pattern=r"^\d{4}-\d{2}$", examples=["2024-01"])
    new_contributors: int
    total_contributors: int = Field(description="running total from the start of the series")


class NewContributors(BaseModel):
    repo: str
    months: list[Month] = Field(description="in month order")


class Contributor(BaseModel):
    identity: str = Field(description="login (noreply emails count as their login), else email, else name")
    kind: str = Field(pattern="^(human|bot)$")
    first_commit_at: datetime | None = Field(description="ISO 8601, UTC")
    commits: int


class Contributors(BaseModel):
    repo: str
    contributors: list[Contributor] = Field(description="sorted by first_commit_at, then identity")


class WikiDays(BaseModel):
    wiki: str
    days: list[str] = Field(description="YYYY-MM-DD, ascending")


class MostRequested(BaseModel):
    title: str
    views: int


class LeastRequested(BaseModel):
    title: str
    views: int
    ties: int = Field(description="how many articles share the least view count")


class TopCategory(BaseModel):
    rank: int
    category: str
    views: int
    articles: int


class TopArticle(BaseModel):
    rank: int
    title: str
    views: int
    mobile_share: float | None = Field(description="en.m views / all views, from the hourly files")
    peak_hour_share: float | None = Field(description="share of the day's views in its busiest hour")
    flags: list[str] = Field(description="peak_hour, mobile_share, spike: the thresholds crossed")


class WikiDay(BaseModel):
    day: str
    wiki: str
    hours: int
    complete: bool
    most_requested: MostRequested | None
    least_requested: LeastRequested | None
    top_categories: list[TopCategory]
    top: list[TopArticle] | None = Field(
        default=None, description="the day's 25 most requested articles and their traffic flags"
    )
    most_requested_unflagged: MostRequested | None = Field(
        default=None, description="the most requested article without a flag"
    )


class Dataset(BaseModel):
    dataset_id: str
    title: str | None
    dataset_followers: int | None
    organization: str | None
    organization_id: str | None
    organization_followers: int | None


class ChangedDataset(BaseModel):
    dataset_id: str
    fields: list[str] = Field(description="which of title, organization, followers changed")


class Changes(BaseModel):
    run_date: str
    previous_run_date: str | None = Field(description="the run date before, in the lake; null on the first")
    added: list[str] = Field(description="dataset ids matching now and not then (all on the first run date)")
    removed: list[str]
    changed: list[ChangedDataset]


class ChangeTitles(BaseModel):
    run_date: str
    titles: dict[str, str] = Field(
        description="dataset id -> title, for the datasets /datagouv/changes lists on that run date"
    )


class Tops(BaseModel):
    run_date: str
    datasets: list[Dataset] = Field(
        description="by organization followers, then dataset followers (both descending), then dataset_id"
    )


class RunOutput(BaseModel):
    rows: int | None = Field(description="rows the run wrote to it")
    version: int | None = Field(description="the Delta version its last write produced (null: not Delta)")


class Run(BaseModel):
    run_id: str
    job: str
    status: Literal["running", "succeeded", "failed", "abandoned"]
    started_at: datetime = Field(description="ISO 8601, UTC")
    finished_at: datetime | None = Field(description="null while running and for an abandoned run")
    duration_seconds: float | None
    version: str | None = Field(description="code version: git describe, image build, or package version")
    mode: str | None = Field(description="`local` or `spark-submit`")
    error: str | None = Field(description="the run's one-line error")
    args: dict[str, Any] = Field(description="the job's arguments (settings flags are under `settings`)")
    settings: dict[str, Any] = Field(description="the settings that shape a run; never a credential")
    stages: dict[str, float] = Field(description="wall time per stage, in seconds")
    inputs: dict[str, Any] = Field(description="input fingerprints (dump URIs and sizes, export ids, ...)")
    outputs: dict[str, RunOutput] = Field(description="per table (or object), rows written and version")


class Runs(BaseModel):
    runs: list[Run] = Field(description="newest first")
