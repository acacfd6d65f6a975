"""Value objects of the domain: who recorded a fact, milestones, allocations, contacts."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from domain.errors import InvalidValue

CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")

MILESTONE_OPEN = ("planned", "in_progress")
"""Milestone statuses that can still change (and can become overdue)."""


@dataclass(frozen=True)
class Recorded:
    """Who records a fact, when it happened in the world, on what evidence, under which command id."""

    actor: str
    effective_on: date
    source: str | None = None
    command_id: str | None = None

    def as_fields(self) -> dict[str, object]:
        return {
            "actor": self.actor,
            "effective_on": self.effective_on,
            "source": self.source,
            "command_id": self.command_id,
        }


@dataclass
class Milestone:
    """A dated commitment inside an agreement, as it stands now."""

    milestone_id: str
    title: str
    due_on: date
    responsible: str
    kind: str
    status: str = "planned"
    percent: int = 0
    completed_on: date | None = None
    original_due_on: date | None = None
    flagged_due_dates: list[date] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status in MILESTONE_OPEN


@dataclass
class Allocation:
    """Money set aside for the agreement, named by the version of the event that allocated it."""

    version: int
    amount: Decimal
    currency: str
    fund: str
    fiscal_years: list[int]
    purpose: str


@dataclass
class Contact:
    """Where reminders for one party go: an email address, a webhook URL, or the log."""

    party: str
    channel: str
    address: str


def check_amount(amount: Decimal, currency: str) -> None:
    """Amounts are positive Decimals with a three-letter currency code."""
    if not isinstance(amount, Decimal) or not amount.is_finite():
        msg = f"amount must be a decimal number, got {amount!r}"
        raise InvalidValue(msg)
    if amount <= 0:
        msg = f"amount must be greater than zero, got {amount}"
        raise InvalidValue(msg)
    if not CURRENCY_PATTERN.match(currency):
        msg = f"currency must be a three-letter code such as MAD, got {currency!r}"
        raise InvalidValue(msg)
