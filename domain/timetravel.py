"""Bitemporal replay: the state as recorded at a moment, and the state as true in the world on a date."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from domain.agreement import Agreement


def as_recorded_before(events: Iterable[Any], cutoff: datetime) -> Agreement | None:
    """What the system knew: every event recorded before `cutoff`, in the order it was recorded."""
    agreement: Agreement | None = None
    for event in events:
        if event.timestamp >= cutoff:
            break
        agreement = event.mutate(agreement)
    return agreement


def as_effective_on(events: Iterable[Any], on: date) -> Agreement | None:
    """What was true in the world on `on`: the events effective by then, whenever they were recorded.

    A fact recorded late still counts from the day it happened, and a fact recorded
    early (a completion dated in the future is refused, but a plan is not) counts only
    from its effective date. Versions are those of the last fact applied.
    """
    agreement: Agreement | None = None
    for event in events:
        if in_effect_from(event) > on:
            continue
        if agreement is None:
            if isinstance(event, Agreement.AgreementSigned):
                agreement = event.mutate(None)
            continue
        milestone_id = getattr(event, "milestone_id", None)
        planned = isinstance(event, Agreement.MilestonePlanned)
        if milestone_id is not None and not planned and milestone_id not in agreement.milestones:
            # A fact about a milestone that was not yet planned on that date.
            continue
        event.apply(agreement)
        agreement.version = event.originator_version
    return agreement


def in_effect_from(event: Any) -> date:
    """The day a fact became true in the world.

    A completion is true from the day the milestone was completed, even when the
    command recording it gave no effective date (which then defaults to the day it
    was recorded): completing on 10 October and recording it on 20 October must not
    make the milestone look open on 15 October.
    """
    if isinstance(event, Agreement.MilestoneCompleted):
        return min(event.completed_on, event.effective_on)
    effective_on: date = event.effective_on
    return effective_on
