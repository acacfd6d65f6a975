"""Health: the database, the projections' lag, the scheduler's last sweep (no token needed)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import BackendDep
from app.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=HealthOut, responses={503: {"model": HealthOut, "description": "Database unreachable"}})
def healthz(backend: BackendDep) -> JSONResponse:
    """200 while the database answers, 503 when it does not."""
    report = HealthOut(**backend.health())
    return JSONResponse(report.model_dump(), status_code=200 if report.database == "ok" else 503)
