"""Read `GITHUB_IDENTITY_MAP` (a .mailmap) from the lake, a path or a URL, before Spark starts."""

from __future__ import annotations

from urllib.parse import urlparse

import requests

from common.errors import ConfigError
from common.http import DEFAULT_TIMEOUT, make_session
from common.settings import Settings
from common.storage import is_s3, lake_path, read_object
from jobs.github_contributors.identities import MapEntry, parse_identity_map


def locate(settings: Settings, value: str) -> str:
    """Where the map is: a URL or URI as given, an absolute path, else a path under LAKE_ROOT."""
    scheme = urlparse(value).scheme
    if scheme in ("http", "https", "s3a", "s3") or value.startswith("/"):
        return value
    return lake_path(settings, value)


def read_identity_map(settings: Settings) -> list[MapEntry]:
    """The parsed map, or [] when unset; a missing or unparsable file is a one-line ConfigError."""
    value = settings.github_identity_map
    if not value:
        return []
    where = locate(settings, value)
    if urlparse(where).scheme in ("http", "https"):
        try:
            resp = make_session(total_retries=3).get(where, timeout=DEFAULT_TIMEOUT)
        except requests.RequestException as exc:
            raise ConfigError("GITHUB_IDENTITY_MAP", f"cannot fetch {where}: {type(exc).__name__}") from None
        if resp.status_code != 200:
            raise ConfigError("GITHUB_IDENTITY_MAP", f"{where} answered {resp.status_code}")
        data: bytes | None = resp.content
    else:
        uri = "s3a://" + where.split("://", 1)[1] if is_s3(where) else where
        data = read_object(uri, settings)
        if data is None:
            raise ConfigError("GITHUB_IDENTITY_MAP", f"no file at {where}")
    try:
        text = (data or b"").decode("utf-8")
    except UnicodeDecodeError as exc:
        line = (data or b"")[: exc.start].count(b"\n") + 1
        raise ConfigError("GITHUB_IDENTITY_MAP", f"{where} line {line}: not UTF-8") from None
    return parse_identity_map(text, where)
