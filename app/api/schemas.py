"""Response models of the API; request bodies are the commands of app/commands.py (amounts as decimal strings)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, Field, WithJsonSchema

from app import commands as c


class WriteOut(BaseModel):
    """What every write returns: the agreement, the version it reached, and the event's position in the log."""

    ref: str
    version: int
    position: int


class AgreementSummary(BaseModel):
    ref: str
    kind: str
    status: str
    title: dict[str, str]
    signed_on: str
    ends_on: str
    allocated: dict[str, str]
    disbursed: dict[str, str]
    milestones_open: int
    overdue_count: int
    next_due: dict[str, str] | None
    version: int


class AgreementPage(BaseModel):
    items: list[AgreementSummary]
    total: int
    offset: int
    limit: int


class HistoryEntry(BaseModel):
    version: int
    type: str
    recorded_at: str
    effective_on: str
    actor: str
    source: str | None
    command_id: str | None
    data: dict[str, Any]
    hash: str
    prev_hash: str


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    total: int
    offset: int
    limit: int


class OverdueOut(BaseModel):
    agreement_ref: str
    milestone_id: str
    title: str
    due_on: str
    days_overdue: int
    responsible: str


class OverduePage(BaseModel):
    as_of: str
    items: list[OverdueOut]
    total: int
    offset: int
    limit: int


class SchedulerHealth(BaseModel):
    running: bool
    last_sweep: str | None


class HealthOut(BaseModel):
    status: str
    database: str
    position: int | None
    projections: list[dict[str, Any]]
    projection_lag: int | None
    scheduler: SchedulerHealth


class VerificationOut(BaseModel):
    """The audit's verdict; the audit module may add more fields than these."""

    model_config = {"extra": "allow"}

    ok: bool
    agreements_checked: int = Field(ge=0)
    events_checked: int = Field(ge=0)
    problems: list[Any]


MONEY_PATTERN = r"^([1-9][0-9]{0,17}(\.[0-9]{1,2})?|0\.([1-9][0-9]?|0[1-9]))$"
_MONEY = re.compile(MONEY_PATTERN)


def _money_text(value: object) -> Decimal:
    # Over HTTP an amount is a decimal string ("1500000.00"): a JSON number would pass through a float.
    if not isinstance(value, str) or not _MONEY.match(value):
        msg = "an amount is a string such as \"1500000.00\": greater than zero, at most two decimals"
        raise ValueError(msg)
    return Decimal(value)


MoneyText = Annotated[Decimal, BeforeValidator(_money_text),
                      WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN, "examples": ["1500000.00"]})]


class AllocateFundingBody(c.AllocateFunding):
    """AllocateFunding, with the amount as a decimal string."""

    amount: MoneyText


class DisburseFundingBody(c.DisburseFunding):
    """DisburseFunding, with the amount as a decimal string."""

    amount: MoneyText
