"""Annotated dependencies: the settings and the lake's current views, taken from app.state.

Routes ask `ViewsDep` for a view only after their own parameters are validated, so a malformed
parameter answers 422 even while a table is missing (503).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from api.settings import ApiSettings
from api.tables import DataUnavailableError, TableCache
from api.views.datagouv import ChangesView, DatagouvView
from api.views.github import ContributorsView, GithubView
from api.views.runs import RunsView
from api.views.wikipedia import WikiTopView, WikiView


class Views:
    """The current view of each dataset; one that cannot be served becomes a 503 naming the table
    and the job to run."""

    def __init__(self, cache: TableCache) -> None:
        self.cache = cache

    def _get(self, name: str) -> Any:
        return self._together(name)[0]

    def _together(self, *names: str, optional: tuple[str, ...] = ()) -> tuple[Any, ...]:
        """Views of one switch of their group (the same runs); None for an unavailable `optional` one."""
        views = self.cache.get_together(*names)
        for name, view in zip(names, views, strict=True):
            if isinstance(view, DataUnavailableError) and name not in optional:
                raise unavailable(str(view))
        return tuple(None if isinstance(v, DataUnavailableError) else v for v in views)

    def github(self) -> GithubView:
        view: GithubView = self._get("github")
        return view

    def github_and_contributors(self) -> tuple[GithubView, ContributorsView | DataUnavailableError]:
        """The listing and the contributors of the same run; the contributors' 503 is the caller's
        to raise, after its 404 for an unknown repository."""
        github, people = self.cache.get_together("github", "github_contributors")
        if isinstance(github, DataUnavailableError):
            raise unavailable(str(github))
        return github, people

    def wikipedia(self) -> WikiView:
        view: WikiView = self._get("wikipedia")
        return view

    def wikipedia_with_top(self) -> tuple[WikiView, WikiTopView | None]:
        """The day answers and their `top` part, of the same run; the top is None on a lake whose
        job ran before it existed (the answers then keep their contract shape)."""
        day, top = self._together("wikipedia", "wikipedia_top", optional=("wikipedia_top",))
        return day, top

    def datagouv(self) -> DatagouvView:
        view: DatagouvView = self._get("datagouv")
        return view

    def datagouv_changes(self) -> ChangesView:
        view: ChangesView = self._get("datagouv_changes")
        return view

    def runs(self) -> RunsView:
        view: RunsView = self._get("runs")
        return view


def unavailable(detail: str) -> HTTPException:
    """A 503 that tells clients when to ask again."""
    return HTTPException(status_code=503, detail=detail, headers={"Retry-After": "30"})


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
