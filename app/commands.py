"""Commands: the validated input of every use case (pydantic, unknown fields refused)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Ref = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$")]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$")]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]


def plain_decimal(amount: Decimal) -> Decimal:
    """`1e3` and `1000` are the same amount: store and show it as 1000, never in exponent form."""
    return Decimal(format(amount, "f"))


Money = Annotated[Decimal, Field(gt=0, max_digits=20, decimal_places=2, allow_inf_nan=False), AfterValidator(plain_decimal)]
CommandId = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class Input(BaseModel):
    """Every input model refuses unknown fields, so nothing can be mass-assigned."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CommandMeta(Input):
    """What every write carries besides its facts: when it happened, the evidence, the idempotency key."""

    effective_on: date | None = None
    source: Annotated[str, StringConstraints(max_length=2000)] | None = None
    command_id: CommandId | None = None
    # Issue 7: optimistic concurrency. The version the client last saw; a stale one is refused (HTTP 409).
    expected_version: Annotated[int, Field(ge=1)] | None = None


class Trilingual(Input):
    ar: Text
    fr: Text
    en: Text


class PartyInput(Input):
    short_name: Identifier
    role: Literal["lead", "signatory", "beneficiary", "observer"] = "signatory"
    name: Trilingual


class SignAgreement(CommandMeta):
    ref: Ref
    kind: Literal["framework_agreement", "annex", "contract_programme", "partnership", "convention"]
    title: Trilingual
    parties: Annotated[list[PartyInput], Field(min_length=1, max_length=50)]
    signed_on: date
    place: ShortText
    occasion: ShortText
    starts_on: date
    ends_on: date
    parent_ref: Ref | None = None


class ExtendAgreement(CommandMeta):
    ends_on: date
    instrument: ShortText
    reason: Text


class AddBeneficiaries(CommandMeta):
    beneficiaries: Annotated[list[ShortText], Field(min_length=1, max_length=50)]
    fund: ShortText


class AllocateFunding(CommandMeta):
    amount: Money
    currency: Currency = "MAD"
    fund: ShortText
    fiscal_years: Annotated[list[Annotated[int, Field(ge=1990, le=2100)]], Field(max_length=30)] = []
    purpose: Text


class CorrectAllocation(CommandMeta):
    corrects_version: Annotated[int, Field(ge=1)]
    amount: Money
    reason: Text


class DisburseFunding(CommandMeta):
    amount: Money
    currency: Currency = "MAD"
    value_date: date
    tranche: ShortText


class PlanMilestone(CommandMeta):
    milestone_id: Identifier
    title: Text
    due_on: date
    responsible: Identifier
    kind: Literal["delivery", "financing", "reporting", "governance", "study", "regulatory"] = "delivery"


class CorrectMilestone(CommandMeta):
    title: Text
    responsible: Identifier
    reason: Text


class ReportProgress(CommandMeta):
    percent: Annotated[int, Field(ge=0, le=100)]
    note: Text
    reason: Text | None = None


class CompleteMilestone(CommandMeta):
    completed_on: date
    evidence: Text


class RescheduleMilestone(CommandMeta):
    due_on: date
    reason: Text


class CancelMilestone(CommandMeta):
    reason: Text


class CloseAgreement(CommandMeta):
    on: date
    reason: Text


class AddContact(CommandMeta):
    party: Identifier
    channel: Literal["email", "webhook", "log"]
    address: ShortText

    @field_validator("address")
    @classmethod
    def address_fits_channel(cls, value: str) -> str:
        if "\n" in value or "\r" in value:
            msg = "an address is one line"
            raise ValueError(msg)
        return value
