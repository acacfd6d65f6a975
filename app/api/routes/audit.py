"""Audit: verify every agreement's hash chain (readable by every role, auditors first of all)."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app.api.deps import BackendDep, UserDep, known_query_only
from app.api.errors import responses
from app.api.schemas import VerificationOut

router = APIRouter(prefix="/api/audit", tags=["audit"], dependencies=[Depends(known_query_only)])


@router.get("/verify", response_model=VerificationOut, responses=responses(401))
def verify(backend: BackendDep, user: UserDep) -> VerificationOut:
    """Recompute every event's hash from the stored rows and check each chain link; `ok` is false if anything was
    rewritten. (To check an auditor's digest as well, use `commitments audit verify --digest D`.)"""
    return VerificationOut(**backend.verify())
