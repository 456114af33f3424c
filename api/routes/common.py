"""Shared bits of the routers: the raw JSON response and the documented error answers."""

from __future__ import annotations

from typing import Any

from fastapi import Response

from api.models import Error

UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": Error,
        "description": "a table it reads is missing or unreadable; the message names it and the job to run",
    }
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Error, "description": "unknown thing"}}
# The most characters of a client's input an error quotes back.
SHOWN = 100


def shown(text: str) -> str:
    """A client's input as an error quotes it: at most SHOWN characters, so an answer never carries
    a 10 kB name back (the start is enough to recognise it)."""
    return text if len(text) <= SHOWN else text[:SHOWN] + "…"


class JSONBytes(Response):
    """Pre-encoded JSON: the view already holds the bytes, so nothing is serialised per request."""

    media_type = "application/json"
