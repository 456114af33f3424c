"""The FastAPI application: `create_app(settings)` wires routers, the table cache and the dashboard."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import Views
from api.fastpath import FastPath
from api.hygiene import NOSNIFF_HEADERS, Hygiene, clipped_errors
from api.metrics import Metrics, MetricsMiddleware
from api.routes import datagouv, github, health, metrics, runs, wikipedia
from api.settings import ApiSettings, load_api_settings
from api.tables import TableCache
from api.views import datasets
from common.logging import redact, setup_logging
from common.storage import DeltaReader

log = logging.getLogger(__name__)
STATIC = Path(__file__).parent / "static"
DESCRIPTION = """Read-only answers computed by the platform's batch jobs (Delta tables under LAKE_ROOT).

A table that no job has written yet, or that cannot be read, answers 503 naming it and the command to
run. HEAD is answered wherever GET is. The dashboard is at `/`."""


def create_app(settings: ApiSettings, cache: TableCache | None = None) -> FastAPI:
    """Build the app; `cache` may be given by tests, otherwise the gold tables under LAKE_ROOT are read."""
    if cache is None:
        served = datasets(settings.github_org)
        cache = TableCache(DeltaReader(settings), served, settings.api_refresh_seconds, ledger="runs")
    app = FastAPI(
        title="dataplatform API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=_lifespan(cache),
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.cache = cache
    app.state.views = Views(cache)
    app.state.metrics = Metrics(cache)
    for module in (health, github, wikipedia, datagouv, runs, metrics):
        app.include_router(module.router)
    _error_answers(app)
    _dashboard(app)
    _middlewares(app, settings, cache)
    return app


def _lifespan(cache: TableCache) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Views warmed before the first request, then kept fresh by a background task until shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await asyncio.to_thread(cache.refresh_all)  # warm: the first requests find the views built
        # Long-lived objects (modules, views) out of the cyclic GC's reach: a full collection over
        # them takes tens of milliseconds, which would land on some request's latency.
        gc.collect()
        gc.freeze()
        stop = asyncio.Event()
        task = asyncio.create_task(cache.run_refresher(stop))
        try:
            yield
        finally:
            stop.set()
            await task

    return lifespan


def _dashboard(app: FastAPI) -> None:
    """The dashboard at `/` and its files under `/static`."""
    index = (STATIC / "index.html").read_bytes()

    @app.get("/", include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(index)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")


def _middlewares(app: FastAPI, settings: ApiSettings, cache: TableCache) -> None:
    """Each added one wraps the ones before it: the last added is the outermost."""
    app.add_middleware(FastPath, cache=cache)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)  # outside the fast path: counts it
    if settings.cors_origins:  # outside the fast path: its answers get CORS headers too
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET"])
    app.add_middleware(Hygiene)  # added last, so outermost: HEAD and nosniff for every answer


def _error_answers(app: FastAPI) -> None:
    """Every error as `{"detail": ...}`: never a server path, a traceback or a long echoed input."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer, but a long input is quoted back shortened.
        return JSONResponse({"detail": jsonable_encoder(clipped_errors(exc.errors()))}, status_code=422)

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> JSONResponse:
        # Details go to the log (redacted), never to the client. Starlette answers this outside
        # every middleware, so the answer carries its nosniff itself.
        log.error("unhandled error on %s %s: %s", request.method, request.url.path, redact(repr(exc)))
        return JSONResponse({"detail": "internal error"}, status_code=500, headers=NOSNIFF_HEADERS)


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: every process reads its settings from the environment."""
    setup_logging()
    return create_app(load_api_settings())
