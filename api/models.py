"""Response models: they document the API in /openapi.json; the routes send pre-encoded bytes."""

from __future__ import annotations

from datetime import datetime

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


class WikiDay(BaseModel):
    day: str
    wiki: str
    hours: int
    complete: bool
    most_requested: MostRequested | None
    least_requested: LeastRequested | None
    top_categories: list[TopCategory]


class Dataset(BaseModel):
    dataset_id: str
    title: str | None
    dataset_followers: int | None
    organization: str | None
    organization_id: str | None
    organization_followers: int | None


class Tops(BaseModel):
    run_date: str
    datasets: list[Dataset] = Field(
        description="by organization followers, then dataset followers (both descending), then dataset_id"
    )
