"""The API's settings: the platform's Settings plus the few knobs only the server has."""

from __future__ import annotations

from typing import Any

from pydantic import Field, ValidationError

from common.errors import ConfigError
from common.settings import Settings, load_settings


class ApiSettings(Settings):
    """Adds API_WORKERS, API_REFRESH_SECONDS, API_CORS_ORIGINS, API_ACCESS_LOG and GITHUB_ORG."""

    api_workers: int = Field(default=2, ge=1, le=64)
    # How often a table's Delta version is checked; a finished job shows up within this delay.
    api_refresh_seconds: float = Field(default=2.0, ge=0.0, le=3600.0)
    # Comma-separated origins; CORS stays off when empty.
    api_cors_origins: str = ""
    api_access_log: bool = False
    # Which organization /github serves when the tables hold several (default: the latest computed).
    github_org: str | None = None

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.api_cors_origins.split(",") if o.strip()]


def load_api_settings(**overrides: Any) -> ApiSettings:
    """Like `load_settings`, failing with one ConfigError line naming the wrong variable."""
    # The base loader validates the shared settings and registers their secrets for redaction.
    load_settings(**{k: v for k, v in overrides.items() if k in Settings.model_fields})
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return ApiSettings(**given)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(name, str(first["msg"]).removeprefix("Value error, ")) from None
