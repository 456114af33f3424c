"""Annotated dependencies: the settings and the lake's current views, taken from app.state.

Routes ask `ViewsDep` for a view only after their own parameters are validated, so a malformed
parameter answers 422 even while a table is missing (503).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import Depends, HTTPException, Request

from api.settings import ApiSettings
from api.tables import DataUnavailableError, TableCache
from api.views import DatagouvView, GithubView, WikiView

if TYPE_CHECKING:
    from api.additions import ChangesView, ContributorsView, WikiTopView
    from api.runs import RunsView


class Views:
    """The current view of each dataset; a missing table becomes a 503 naming the job to run."""

    def __init__(self, cache: TableCache) -> None:
        self.cache = cache

    def _get(self, name: str) -> Any:
        try:
            return self.cache.get(name)
        except DataUnavailableError as exc:
            raise HTTPException(status_code=503, detail=str(exc), headers={"Retry-After": "30"}) from None

    def github(self) -> GithubView:
        view: GithubView = self._get("github")
        return view

    def wikipedia(self) -> WikiView:
        view: WikiView = self._get("wikipedia")
        return view

    def datagouv(self) -> DatagouvView:
        view: DatagouvView = self._get("datagouv")
        return view

    def contributors(self) -> ContributorsView:
        view: ContributorsView = self._get("github_contributors")
        return view

    def wiki_top(self) -> WikiTopView | None:
        """The day answers' `top` part, or None on a lake whose job ran before it existed (the
        answers then keep their contract shape)."""
        try:
            view: WikiTopView = self.cache.get("wikipedia_top")
        except DataUnavailableError:
            return None
        return view

    def datagouv_changes(self) -> ChangesView:
        view: ChangesView = self._get("datagouv_changes")
        return view

    def runs(self) -> RunsView:
        view: RunsView = self._get("runs")
        return view


# Async on purpose: FastAPI runs plain `def` dependencies in its thread pool, which would cost
# more than the whole request; these only read app.state.


async def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


async def get_views(request: Request) -> Views:
    views: Views = request.app.state.views
    return views


SettingsDep = Annotated[ApiSettings, Depends(get_settings)]
ViewsDep = Annotated[Views, Depends(get_views)]
