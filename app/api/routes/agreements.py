"""Agreements: list, sign, read (now, as recorded, as effective), history, and the agreement-level facts."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from app import commands as c
from app.api.deps import (
    AgreementWriterDep,
    BackendDep,
    IdempotencyKey,
    RefPath,
    UserDep,
    WriterDep,
    with_idempotency,
)
from app.api.errors import READ_ERRORS, responses
from app.api.pagination import PageDep
from app.api.schemas import AgreementPage, AgreementSummary, HistoryEntry, HistoryPage, WriteOut
from app.api.writes import write_route, written
from app.presenters import agreement_summary

router = APIRouter(prefix="/api/agreements", tags=["agreements"])


@router.get("", response_model=AgreementPage, responses=responses(401, 422))
def list_agreements(backend: BackendDep, user: UserDep, page: PageDep) -> AgreementPage:
    """Every agreement, in signing order, one summary each."""
    refs = backend.service.refs()
    today = backend.service.today()
    items = [AgreementSummary(**agreement_summary(backend.service.agreement(ref), today)) for ref in page.slice(refs)]
    return AgreementPage(items=items, total=len(refs), offset=page.offset, limit=page.limit)


@write_route(router, "")
def sign(command: c.SignAgreement, backend: BackendDep, user: WriterDep, key: IdempotencyKey = None) -> WriteOut:
    """Record a newly signed agreement. An official must be one of its parties."""
    if not user.can_write_to([p.short_name for p in command.parties]):
        raise HTTPException(403, f"{user.org} is not among the parties; an official signs only their own agreements")
    return written(backend, backend.service.sign(with_idempotency(command, key, user), actor=user.actor))


@router.get("/{ref}", response_model=dict[str, Any], responses=READ_ERRORS)
def show(ref: RefPath, backend: BackendDep, user: UserDep,
         as_of: Annotated[date | None, Query(description="The state as recorded by the end of this date.")] = None,
         effective_on: Annotated[date | None, Query(description="The state as true in the world on this date.")] = None,
         ) -> dict[str, Any]:
    """One agreement: as it stands, as the system knew it on a date, or as it was in effect on a date."""
    if as_of is not None and effective_on is not None:
        raise HTTPException(422, "give as_of or effective_on, not both")
    if as_of is not None:
        return backend.service.show_as_of(ref, as_of)
    if effective_on is not None:
        return backend.service.show_effective_on(ref, effective_on)
    return backend.service.show(ref)


@router.get("/{ref}/history", response_model=HistoryPage, responses=READ_ERRORS)
def history(ref: RefPath, backend: BackendDep, user: UserDep, page: PageDep) -> HistoryPage:
    """Every event of the agreement, oldest first, with recorded and effective dates and its hash-chain link."""
    entries = list(backend.service.history(ref))
    return HistoryPage(items=[HistoryEntry(**e) for e in page.slice(entries)], total=len(entries),
                       offset=page.offset, limit=page.limit)


@write_route(router, "/{ref}/extensions")
def extend(ref: RefPath, command: c.ExtendAgreement, backend: BackendDep, user: AgreementWriterDep,
           key: IdempotencyKey = None) -> WriteOut:
    """Extend the agreement's term."""
    return written(backend, backend.service.extend(ref, with_idempotency(command, key, user), actor=user.actor))


@write_route(router, "/{ref}/funding")
def allocate_funding(ref: RefPath, command: c.AllocateFunding, backend: BackendDep, user: AgreementWriterDep,
                     key: IdempotencyKey = None) -> WriteOut:
    """Allocate funding to the agreement."""
    return written(backend, backend.service.allocate_funding(ref, with_idempotency(command, key, user), actor=user.actor))


@write_route(router, "/{ref}/disbursements")
def disburse(ref: RefPath, command: c.DisburseFunding, backend: BackendDep, user: AgreementWriterDep,
             key: IdempotencyKey = None) -> WriteOut:
    """Record a disbursement of allocated funding."""
    return written(backend, backend.service.disburse(ref, with_idempotency(command, key, user), actor=user.actor))


@write_route(router, "/{ref}/milestones")
def plan_milestone(ref: RefPath, command: c.PlanMilestone, backend: BackendDep, user: AgreementWriterDep,
                   key: IdempotencyKey = None) -> WriteOut:
    """Plan a new dated milestone."""
    return written(backend, backend.service.plan_milestone(ref, with_idempotency(command, key, user), actor=user.actor))
