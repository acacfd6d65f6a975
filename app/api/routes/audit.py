"""Audit: verify every agreement's hash chain (readable by every role, auditors first of all)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from app.api.deps import BackendDep, UserDep
from app.api.errors import responses
from app.api.schemas import VerificationOut
from app.audit import MalformedDigest

router = APIRouter(prefix="/api/audit", tags=["audit"])


@router.get("/verify", response_model=VerificationOut, responses=responses(401, 422))
def verify(backend: BackendDep, user: UserDep,
           digest: Annotated[str | None, Query(max_length=100_000, description="A digest from `commitments audit digest`: "
                                               "also prove that everything it covers is still there, unchanged.")] = None,
           ) -> VerificationOut:
    """Recompute every event's hash and check each chain link; `ok` is false if anything was rewritten."""
    try:
        return VerificationOut(**backend.verify(digest))
    except MalformedDigest as e:
        raise HTTPException(422, f"digest: {e}") from None
