"""Overdue commitments: open milestones past their due date."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from app.api.deps import BackendDep, UserDep, known_query_only
from app.api.errors import responses
from app.api.pagination import IsoDate, PageDep
from app.api.schemas import OverdueOut, OverduePage

router = APIRouter(prefix="/api/overdue", tags=["overdue"], dependencies=[Depends(known_query_only)])


@router.get("", response_model=OverduePage, responses=responses(401, 422))
def overdue(backend: BackendDep, user: UserDep, page: PageDep,
            as_of: Annotated[IsoDate | None, Query(description="The day to judge by (default: today).")] = None,
            ) -> OverduePage:
    """Open milestones whose due date is before `as_of`, the longest overdue first."""
    day = as_of or backend.service.today()
    rows = backend.overdue(day)
    return OverduePage(as_of=day.isoformat(), items=[OverdueOut(**r) for r in page.slice(rows)], total=len(rows),
                       offset=page.offset, limit=page.limit)
