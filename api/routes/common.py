"""Shared bits of the routers: the raw JSON response and the documented error answers."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from api.models import Error

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {"model": Error, "description": "the table is not there yet; the message names the job to run"}
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Error, "description": "unknown thing"}}


class JSONBytes(Response):
    """Pre-encoded JSON: the view already holds the bytes, so nothing is serialised per request."""

    media_type = "application/json"
