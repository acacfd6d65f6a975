"""The app factory: the HTTP API and the web UI, built from the settings (nothing is built at import time)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from app.api.backend import Backend, SchedulerLike
from app.api.background import ProjectionRunner
from app.api.errors import install_error_handlers
from app.api.limits import BodySizeLimit
from app.api.routes import agreements, audit, exports, health, milestones, overdue
from app.settings import Settings

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, backend: Backend | None = None, background: bool = False,
               scheduler: SchedulerLike | None = None) -> FastAPI:
    """The whole web application. With `background`, it also runs the projection runner and the scheduler while it serves."""
    owned = backend is None
    state = backend or Backend.build(settings)
    state.scheduler = scheduler or state.scheduler

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runner: ProjectionRunner | None = None
        if background:
            runner = ProjectionRunner(state.views(), settings.projection_poll_seconds)
            runner.start()
            if state.scheduler is not None:
                state.scheduler.start()
        try:
            yield
        finally:
            if background and state.scheduler is not None:
                state.scheduler.shutdown()
            if runner is not None:
                runner.stop()
            if owned:
                state.close()

    app = FastAPI(
        title="Commitment tracker",
        version="0.1.0",
        description="Public agreements and the commitments they make: every fact an immutable, hash-chained event.",
        lifespan=lifespan,
        docs_url=None,  # Swagger UI loads from a CDN; users may be offline. The schema is at /openapi.json.
        redoc_url=None,
    )
    app.state.backend = state
    install_error_handlers(app)
    for router in (agreements.router, milestones.router, overdue.router, audit.router, exports.router, health.router):
        app.include_router(router)
    from app.web import install_web

    install_web(app, settings)
    app.add_middleware(BodySizeLimit, max_bytes=settings.api_max_body_bytes)
    return app
