"""What the sweep needs from the rest of the system, declared here so scheduler/ never imports app/."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol


class DueMilestone(Protocol):
    """One open milestone as the views list it (projections' OverdueMilestone and OpenMilestone both fit)."""

    @property
    def agreement_ref(self) -> str: ...
    @property
    def milestone_id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def due_on(self) -> date: ...
    @property
    def responsible(self) -> str: ...


class OverdueSource(Protocol):
    """The read models: caught up on demand, then asked which milestones are overdue or coming due."""

    def catch_up(self) -> int: ...
    def overdue(self, as_of: date) -> Sequence[DueMilestone]: ...
    def open_milestones(self, due_from: date, due_to: date) -> Sequence[DueMilestone]: ...


@dataclass(frozen=True)
class Recipient:
    """One contact recorded for a party: where its reminders go."""

    party: str
    channel: str
    address: str


@dataclass(frozen=True)
class AgreementContacts:
    """Who to chase on one agreement: the lead party (for escalations) and every party's contacts.
    A terminated or completed agreement (`active` False) has nobody left to chase."""

    lead_party: str
    contacts: tuple[Recipient, ...]
    active: bool = True

    def of(self, party: str) -> list[Recipient]:
        return [c for c in self.contacts if c.party == party]


@dataclass(frozen=True)
class Delivery:
    """One reminder delivery, as it will be recorded in a ReminderSent event."""

    agreement_ref: str
    milestone_id: str
    due_on: date
    rung: str
    channel: str
    recipient: str
    outcome: str
    attempts: int
    detail: str


class ReminderWriter(Protocol):
    """The ledger side: facts about an agreement, and the two events the sweep appends.

    `flag_overdue` and `record_reminder` return True when this call appended the event and False when the
    agreement already held it (another sweep won the race, or a retry repeated itself): never an error.
    """

    def flag_overdue(self, ref: str, milestone_id: str, due_on: date, as_of: date) -> bool: ...
    def contacts(self, ref: str) -> AgreementContacts: ...
    def was_reminded(self, ref: str, milestone_id: str, due_on: date, rung: str, recipient: str) -> bool: ...
    def record_reminder(self, delivery: Delivery, as_of: date) -> bool: ...


class LeaderLock(Protocol):
    """Keeps one scheduler active at a time. A convenience for delivery, never the only guard."""

    def acquire(self, wait_seconds: float = 0.0) -> bool: ...
    def held(self) -> bool: ...
    def release(self) -> None: ...
