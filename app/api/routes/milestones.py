"""Milestones of an agreement: progress, completion with evidence, rescheduling with a reason, cancellation."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from app import commands as c
from app.api.deps import AgreementWriterDep, BackendDep, IdempotencyKey, MilestonePath, RefPath, known_query_only, with_idempotency
from app.api.schemas import WriteOut
from app.api.writes import write_route, written

router = APIRouter(prefix="/api/agreements/{ref}/milestones/{milestone_id}", tags=["milestones"], dependencies=[Depends(known_query_only)])


@write_route(router, "/progress")
def report_progress(ref: RefPath, milestone_id: MilestonePath, command: c.ReportProgress, backend: BackendDep,
                    user: AgreementWriterDep, key: IdempotencyKey = None) -> WriteOut:
    """Report how far a milestone has come."""
    command = with_idempotency(command, key, user)
    return written(backend, backend.service.report_progress(ref, milestone_id, command, actor=user.actor))


@write_route(router, "/completion")
def complete(ref: RefPath, milestone_id: MilestonePath, command: c.CompleteMilestone, backend: BackendDep,
             user: AgreementWriterDep, key: IdempotencyKey = None) -> WriteOut:
    """Complete a milestone, with the evidence."""
    command = with_idempotency(command, key, user)
    return written(backend, backend.service.complete_milestone(ref, milestone_id, command, actor=user.actor))


@write_route(router, "/reschedule")
def reschedule(ref: RefPath, milestone_id: MilestonePath, command: c.RescheduleMilestone, backend: BackendDep,
               user: AgreementWriterDep, key: IdempotencyKey = None) -> WriteOut:
    """Move a milestone's due date, with the reason."""
    command = with_idempotency(command, key, user)
    return written(backend, backend.service.reschedule_milestone(ref, milestone_id, command, actor=user.actor))


@write_route(router, "/cancellation")
def cancel(ref: RefPath, milestone_id: MilestonePath, command: c.CancelMilestone, backend: BackendDep,
           user: AgreementWriterDep, key: IdempotencyKey = None) -> WriteOut:
    """Cancel a milestone, with the reason."""
    command = with_idempotency(command, key, user)
    return written(backend, backend.service.cancel_milestone(ref, milestone_id, command, actor=user.actor))
