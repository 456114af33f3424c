"""Liveness: answers without touching the lake."""

from __future__ import annotations

from fastapi import APIRouter

from api.models import Health
from api.routes.common import JSONBytes

router = APIRouter(tags=["health"])
_OK = b'{"status":"ok"}'


@router.get("/health", response_model=Health)
async def health() -> JSONBytes:
    return JSONBytes(_OK)
