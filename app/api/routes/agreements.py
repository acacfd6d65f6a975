"""Agreements: list, sign, read (now, as recorded, as effective), history, and the agreement-level facts."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query

from app import commands as c
from app.api.deps import (
    AgreementWriterDep,
    BackendDep,
    IdempotencyKey,
    RefPath,
    SigningWriterDep,
    UserDep,
    known_query_only,
    with_idempotency,
)
from app.api.errors import READ_ERRORS, responses
from app.api.pagination import IsoDate, PageDep
from app.api.schemas import AgreementPage, AgreementSummary, AllocateFundingBody, DisburseFundingBody, HistoryEntry, HistoryPage, WriteOut
from app.api.writes import write_route, written
from app.errors import AgreementNotFound
from app.presenters import agreement_state
from domain.timetravel import as_effective_on

router = APIRouter(prefix="/api/agreements", tags=["agreements"], dependencies=[Depends(known_query_only)])


@router.get("", response_model=AgreementPage, responses=responses(401, 422))
def list_agreements(backend: BackendDep, user: UserDep, page: PageDep) -> AgreementPage:
    """Every agreement, in signing order, one summary each."""
    rows = backend.service.list_agreements()  # from the read models: no agreement is replayed
    items = [AgreementSummary(**row) for row in page.slice(rows)]
    return AgreementPage(items=items, total=len(rows), offset=page.offset, limit=page.limit)


@write_route(router, "")
def sign(command: c.SignAgreement, backend: BackendDep, user: SigningWriterDep, key: IdempotencyKey = None) -> WriteOut:
    """Record a newly signed agreement. An official must be one of its parties."""
    if not user.can_write_to([p.short_name for p in command.parties]):
        raise HTTPException(403, f"{user.org} is not among the parties; an official signs only their own agreements")
    return written(backend, backend.service.sign(with_idempotency(command, key, user), actor=user.actor))


@router.get("/{ref}", response_model=dict[str, Any], responses=READ_ERRORS)
def show(ref: RefPath, backend: BackendDep, user: UserDep,
         as_of: Annotated[IsoDate | None, Query(description="The state as recorded by the end of this date.")] = None,
         effective_on: Annotated[IsoDate | None, Query(description="The state as true in the world on this date.")] = None,
         ) -> dict[str, Any]:
    """One agreement: as it stands, as the system knew it on a date, as it was in effect on a date, or both
    (what the system knew by `as_of` about the world on `effective_on`)."""
    if as_of is not None and effective_on is not None:
        return as_known_on(backend, ref, as_of, effective_on)
    if as_of is not None:
        return backend.service.show_as_of(ref, as_of)
    if effective_on is not None:
        return backend.service.show_effective_on(ref, effective_on)
    return backend.service.show(ref)


def as_known_on(backend: BackendDep, ref: str, as_of: date, effective_on: date) -> dict[str, Any]:
    """Bitemporal: the events recorded by the end of `as_of`, replayed as in effect on `effective_on`."""
    service = backend.service
    cutoff = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=service.zone)
    events: list[Any] = list(service.ledger.events.get(service.existing_id(ref)))
    known = [e for e in events if e.timestamp < cutoff]
    agreement = as_effective_on(known, effective_on)
    if agreement is None:
        raise AgreementNotFound(f"agreement {ref} was not yet recorded on {as_of} as in effect on {effective_on}")
    return agreement_state(agreement)


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
def allocate_funding(ref: RefPath, command: AllocateFundingBody, backend: BackendDep, user: AgreementWriterDep,
                     key: IdempotencyKey = None) -> WriteOut:
    """Allocate funding to the agreement."""
    return written(backend, backend.service.allocate_funding(ref, with_idempotency(command, key, user), actor=user.actor))


@write_route(router, "/{ref}/disbursements")
def disburse(ref: RefPath, command: DisburseFundingBody, backend: BackendDep, user: AgreementWriterDep,
             key: IdempotencyKey = None) -> WriteOut:
    """Record a disbursement of allocated funding."""
    return written(backend, backend.service.disburse(ref, with_idempotency(command, key, user), actor=user.actor))


@write_route(router, "/{ref}/milestones")
def plan_milestone(ref: RefPath, command: c.PlanMilestone, backend: BackendDep, user: AgreementWriterDep,
                   key: IdempotencyKey = None) -> WriteOut:
    """Plan a new dated milestone."""
    return written(backend, backend.service.plan_milestone(ref, with_idempotency(command, key, user), actor=user.actor))
