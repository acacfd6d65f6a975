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
        if event.effective_on > on:
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
