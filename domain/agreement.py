"""The Agreement aggregate: every fact about one public agreement, recorded as an event."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Any, cast
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.utils import get_topic

from domain.chain import GENESIS_HASH, event_hash
from domain.errors import (
    AgreementClosed,
    AlreadyFlagged,
    AlreadyReminded,
    DuplicateMilestone,
    InvalidValue,
    MilestoneClosed,
    OverDisbursement,
    RuleViolation,
    TermNotExtended,
    UnknownMilestone,
    UnknownParty,
    UnknownVersion,
)
from domain.values import Allocation, Contact, Milestone, Recorded, check_amount

AGREEMENT_NAMESPACE = UUID("6f1b8a52-3c0e-4d35-9a41-2f7c5e1d9b60")
CONTACT_CHANNELS = ("email", "webhook", "log")


def agreement_id(ref: str) -> UUID:
    """The id of an agreement is derived from its reference, so a reference is unique."""
    return uuid5(AGREEMENT_NAMESPACE, ref)


class Agreement(Aggregate):
    """One signed agreement, its term, funding, milestones and the chase for overdue ones."""

    class Event(Aggregate.Event):
        actor: str
        effective_on: date
        source: str | None
        command_id: str | None
        prev_hash: str
        hash: str

        def mutate(self, aggregate: Any) -> Any:
            agreement = cast(Agreement, super().mutate(aggregate))
            agreement.head_hash = self.hash
            if self.command_id is not None:
                agreement.command_versions[self.command_id] = self.originator_version
            return agreement

    class AgreementSigned(Event, Aggregate.Created):
        ref: str
        kind: str
        title: dict[str, str]
        parties: list[dict[str, Any]]
        signed_on: date
        place: str
        occasion: str
        starts_on: date
        ends_on: date
        parent_ref: str | None

        def apply(self, aggregate: Any) -> None:
            a = cast(Agreement, aggregate)
            a.ref, a.kind, a.title = self.ref, self.kind, dict(self.title)
            a.parties = [dict(p) for p in self.parties]
            a.signed_on, a.place, a.occasion = self.signed_on, self.place, self.occasion
            a.starts_on, a.ends_on, a.parent_ref = self.starts_on, self.ends_on, self.parent_ref
            a.status = "active"
            a.beneficiaries = []
            a.allocations = []
            a.disbursed = {}
            a.milestones = {}
            a.contacts = []
            a.reminders = []
            a.head_hash = GENESIS_HASH
            a.command_versions = {}

    class AgreementExtended(Event):
        previous_ends_on: date
        ends_on: date
        instrument: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            cast(Agreement, aggregate).ends_on = self.ends_on

    class BeneficiariesAdded(Event):
        beneficiaries: list[str]
        fund: str

        def apply(self, aggregate: Any) -> None:
            a = cast(Agreement, aggregate)
            a.beneficiaries = [*a.beneficiaries, *(b for b in self.beneficiaries if b not in a.beneficiaries)]

    class FundingAllocated(Event):
        amount: Decimal
        currency: str
        fund: str
        fiscal_years: list[int]
        purpose: str

        def apply(self, aggregate: Any) -> None:
            cast(Agreement, aggregate).allocations.append(
                Allocation(self.originator_version, self.amount, self.currency, self.fund,
                           list(self.fiscal_years), self.purpose)
            )

    class FundingAllocationCorrected(Event):
        corrects_version: int
        amount: Decimal
        reason: str

        def apply(self, aggregate: Any) -> None:
            cast(Agreement, aggregate).allocation(self.corrects_version).amount = self.amount

    class FundingDisbursed(Event):
        amount: Decimal
        currency: str
        value_date: date
        tranche: str

        def apply(self, aggregate: Any) -> None:
            a = cast(Agreement, aggregate)
            a.disbursed[self.currency] = a.disbursed.get(self.currency, Decimal(0)) + self.amount

    class MilestonePlanned(Event):
        milestone_id: str
        title: str
        due_on: date
        responsible: str
        kind: str

        def apply(self, aggregate: Any) -> None:
            cast(Agreement, aggregate).milestones[self.milestone_id] = Milestone(
                self.milestone_id, self.title, self.due_on, self.responsible, self.kind,
                original_due_on=self.due_on,
            )

    class MilestoneCorrected(Event):
        milestone_id: str
        title: str
        responsible: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            m = cast(Agreement, aggregate).milestones[self.milestone_id]
            m.title, m.responsible = self.title, self.responsible

    class MilestoneProgressReported(Event):
        milestone_id: str
        percent: int
        note: str
        reason: str | None

        def apply(self, aggregate: Any) -> None:
            m = cast(Agreement, aggregate).milestones[self.milestone_id]
            m.percent, m.status = self.percent, "in_progress"

    class MilestoneCompleted(Event):
        milestone_id: str
        completed_on: date
        evidence: str

        def apply(self, aggregate: Any) -> None:
            m = cast(Agreement, aggregate).milestones[self.milestone_id]
            m.status, m.percent, m.completed_on = "completed", 100, self.completed_on

    class MilestoneRescheduled(Event):
        milestone_id: str
        previous_due_on: date
        due_on: date
        reason: str

        def apply(self, aggregate: Any) -> None:
            cast(Agreement, aggregate).milestones[self.milestone_id].due_on = self.due_on

    class MilestoneCancelled(Event):
        milestone_id: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            cast(Agreement, aggregate).milestones[self.milestone_id].status = "cancelled"

    class MilestoneFlaggedOverdue(Event):
        milestone_id: str
        due_on: date
        as_of: date

        def apply(self, aggregate: Any) -> None:
            m = cast(Agreement, aggregate).milestones[self.milestone_id]
            m.flagged_due_dates = [*m.flagged_due_dates, self.due_on]

    class ContactAdded(Event):
        party: str
        channel: str
        address: str

        def apply(self, aggregate: Any) -> None:
            cast(Agreement, aggregate).contacts.append(Contact(self.party, self.channel, self.address))

    class ReminderSent(Event):
        milestone_id: str
        due_on: date
        rung: str
        channel: str
        recipient: str
        outcome: str
        attempts: int
        detail: str

        def apply(self, aggregate: Any) -> None:
            if self.outcome == "sent":
                a = cast(Agreement, aggregate)
                a.reminders = [*a.reminders, reminder_key(self.milestone_id, self.due_on, self.rung, self.recipient)]

    class AgreementTerminated(Event):
        on: date
        reason: str

        def apply(self, aggregate: Any) -> None:
            cast(Agreement, aggregate).status = "terminated"

    class AgreementCompleted(Event):
        on: date
        reason: str

        def apply(self, aggregate: Any) -> None:
            cast(Agreement, aggregate).status = "completed"

    # State, assigned by the events above (declared here for readers and type checkers).
    ref: str
    kind: str
    title: dict[str, str]
    parties: list[dict[str, Any]]
    signed_on: date
    place: str
    occasion: str
    starts_on: date
    ends_on: date
    parent_ref: str | None
    status: str
    beneficiaries: list[str]
    allocations: list[Allocation]
    disbursed: dict[str, Decimal]
    milestones: dict[str, Milestone]
    contacts: list[Contact]
    reminders: list[str]
    head_hash: str
    command_versions: dict[str, int]

    def __init__(self) -> None:
        """State is assigned by `AgreementSigned.apply`, so replaying the first event builds it."""

    @classmethod
    def sign(cls, *, ref: str, kind: str, title: dict[str, str], parties: Sequence[dict[str, Any]],
             signed_on: date, place: str, occasion: str, starts_on: date, ends_on: date,
             parent_ref: str | None, recorded: Recorded) -> Agreement:
        if ends_on <= starts_on:
            msg = f"the term must end after it starts ({starts_on} .. {ends_on})"
            raise InvalidValue(msg)
        if not parties:
            msg = "an agreement needs at least one party"
            raise InvalidValue(msg)
        short_names = [p["short_name"] for p in parties]
        if len(set(short_names)) != len(short_names):
            msg = f"party short names must be unique, got {', '.join(short_names)}"
            raise InvalidValue(msg)
        fields: dict[str, Any] = {
            "ref": ref, "kind": kind, "title": dict(title), "parties": [dict(p) for p in parties],
            "signed_on": signed_on, "place": place, "occasion": occasion,
            "starts_on": starts_on, "ends_on": ends_on, "parent_ref": parent_ref,
        }
        agreement: Agreement = cls._create(cls.AgreementSigned, id=agreement_id(ref), **fields, recorded=recorded)
        return agreement

    @classmethod
    def _create(cls, event_class: Any, *, id: UUID | None = None, **kwargs: Any) -> Any:  # noqa: A002
        assert id is not None
        chained = _chain_fields(event_class, id, cls.INITIAL_VERSION, GENESIS_HASH, kwargs,
                                originator_topic=get_topic(cls))
        return super()._create(event_class, id=id, **chained)

    def trigger_event(self, event_class: type[CanMutateAggregate[UUID]], **kwargs: Any) -> None:
        # Every event gets its metadata and its link in the hash chain here, in one place.
        super().trigger_event(
            event_class, **_chain_fields(event_class, self.id, self.version + 1, self.head_hash, kwargs)
        )

    # Rules shared by the commands.

    def check_active(self) -> None:
        if self.status != "active":
            msg = f"agreement {self.ref} is {self.status}; it takes no new facts"
            raise AgreementClosed(msg)

    def check_party(self, short_name: str) -> None:
        if short_name not in self.party_short_names:
            msg = f"{short_name} is not a party to {self.ref} (parties: {', '.join(self.party_short_names)})"
            raise UnknownParty(msg)

    def open_milestone(self, milestone_id: str) -> Milestone:
        milestone = self.milestone(milestone_id)
        if not milestone.is_open:
            msg = f"milestone {milestone_id} of {self.ref} is {milestone.status}"
            raise MilestoneClosed(msg)
        return milestone

    def milestone(self, milestone_id: str) -> Milestone:
        try:
            return self.milestones[milestone_id]
        except KeyError:
            msg = f"{self.ref} has no milestone {milestone_id!r}"
            raise UnknownMilestone(msg) from None

    def allocation(self, version: int) -> Allocation:
        for allocation in self.allocations:
            if allocation.version == version:
                return allocation
        msg = f"version {version} of {self.ref} is not a funding allocation"
        raise UnknownVersion(msg)

    @property
    def party_short_names(self) -> list[str]:
        return [str(p["short_name"]) for p in self.parties]

    @property
    def lead_party(self) -> str:
        leads = [str(p["short_name"]) for p in self.parties if p.get("role") == "lead"]
        return leads[0] if leads else self.party_short_names[0]

    def allocated(self, currency: str) -> Decimal:
        return sum((a.amount for a in self.allocations if a.currency == currency), Decimal(0))

    def version_of_command(self, command_id: str | None) -> int | None:
        """The version a command already produced, if this command id was seen before."""
        return None if command_id is None else self.command_versions.get(command_id)

    # Commands: check the rules, then record one event.

    def extend(self, *, ends_on: date, instrument: str, reason: str, recorded: Recorded) -> None:
        self.check_active()
        if ends_on <= self.ends_on:
            msg = f"an extension must end after the current term ({self.ends_on}); got {ends_on}"
            raise TermNotExtended(msg)
        self.trigger_event(self.AgreementExtended, previous_ends_on=self.ends_on, ends_on=ends_on,
                           instrument=instrument, reason=reason, recorded=recorded)

    def add_beneficiaries(self, *, beneficiaries: Sequence[str], fund: str, recorded: Recorded) -> None:
        self.check_active()
        if not beneficiaries:
            msg = "name at least one beneficiary"
            raise InvalidValue(msg)
        self.trigger_event(self.BeneficiariesAdded, beneficiaries=list(beneficiaries), fund=fund,
                           recorded=recorded)

    def allocate_funding(self, *, amount: Decimal, currency: str, fund: str, fiscal_years: Sequence[int],
                         purpose: str, recorded: Recorded) -> None:
        self.check_active()
        check_amount(amount, currency)
        self.trigger_event(self.FundingAllocated, amount=amount, currency=currency, fund=fund,
                           fiscal_years=list(fiscal_years), purpose=purpose, recorded=recorded)

    def correct_allocation(self, *, corrects_version: int, amount: Decimal, reason: str,
                           recorded: Recorded) -> None:
        allocation = self.allocation(corrects_version)
        check_amount(amount, allocation.currency)
        remaining = self.allocated(allocation.currency) - allocation.amount + amount
        if remaining < self.disbursed.get(allocation.currency, Decimal(0)):
            msg = (f"the correction would leave {remaining} {allocation.currency} allocated, less than the "
                   f"{self.disbursed[allocation.currency]} already disbursed")
            raise OverDisbursement(msg)
        self.trigger_event(self.FundingAllocationCorrected, corrects_version=corrects_version,
                           amount=amount, reason=reason, recorded=recorded)

    def disburse(self, *, amount: Decimal, currency: str, value_date: date, tranche: str,
                 recorded: Recorded) -> None:
        self.check_active()
        check_amount(amount, currency)
        already = self.disbursed.get(currency, Decimal(0))
        allocated = self.allocated(currency)
        if already + amount > allocated:
            msg = (f"disbursing {amount} {currency} would exceed the allocation: "
                   f"{allocated} allocated, {already} already disbursed")
            raise OverDisbursement(msg)
        self.trigger_event(self.FundingDisbursed, amount=amount, currency=currency, value_date=value_date,
                           tranche=tranche, recorded=recorded)

    def plan_milestone(self, *, milestone_id: str, title: str, due_on: date, responsible: str, kind: str,
                       recorded: Recorded) -> None:
        self.check_active()
        if milestone_id in self.milestones:
            msg = f"{self.ref} already has a milestone {milestone_id!r}"
            raise DuplicateMilestone(msg)
        self.check_party(responsible)
        self.trigger_event(self.MilestonePlanned, milestone_id=milestone_id, title=title, due_on=due_on,
                           responsible=responsible, kind=kind, recorded=recorded)

    def correct_milestone(self, *, milestone_id: str, title: str, responsible: str, reason: str,
                          recorded: Recorded) -> None:
        self.milestone(milestone_id)
        self.check_party(responsible)
        self.trigger_event(self.MilestoneCorrected, milestone_id=milestone_id, title=title,
                           responsible=responsible, reason=reason, recorded=recorded)

    def report_progress(self, *, milestone_id: str, percent: int, note: str, reason: str | None,
                        recorded: Recorded) -> None:
        milestone = self.open_milestone(milestone_id)
        if not 0 <= percent <= 100:
            msg = f"progress is a percentage from 0 to 100, got {percent}"
            raise InvalidValue(msg)
        if percent < milestone.percent and not reason:
            msg = f"progress on {milestone_id} would fall from {milestone.percent}% to {percent}%; give a reason"
            raise RuleViolation(msg)
        self.trigger_event(self.MilestoneProgressReported, milestone_id=milestone_id, percent=percent,
                           note=note, reason=reason, recorded=recorded)

    def complete_milestone(self, *, milestone_id: str, completed_on: date, evidence: str,
                           recorded: Recorded) -> None:
        self.open_milestone(milestone_id)
        if completed_on > recorded.effective_on:
            msg = f"a milestone cannot be completed on {completed_on}, after the date it is recorded as effective"
            raise InvalidValue(msg)
        self.trigger_event(self.MilestoneCompleted, milestone_id=milestone_id, completed_on=completed_on,
                           evidence=evidence, recorded=recorded)

    def reschedule_milestone(self, *, milestone_id: str, due_on: date, reason: str, recorded: Recorded) -> None:
        milestone = self.open_milestone(milestone_id)
        if due_on == milestone.due_on:
            msg = f"milestone {milestone_id} is already due on {due_on}"
            raise RuleViolation(msg)
        if not reason.strip():
            msg = "a reschedule needs a reason"
            raise InvalidValue(msg)
        self.trigger_event(self.MilestoneRescheduled, milestone_id=milestone_id,
                           previous_due_on=milestone.due_on, due_on=due_on, reason=reason, recorded=recorded)

    def cancel_milestone(self, *, milestone_id: str, reason: str, recorded: Recorded) -> None:
        self.open_milestone(milestone_id)
        if not reason.strip():
            msg = "a cancellation needs a reason"
            raise InvalidValue(msg)
        self.trigger_event(self.MilestoneCancelled, milestone_id=milestone_id, reason=reason, recorded=recorded)

    def is_overdue(self, milestone_id: str, as_of: date) -> bool:
        milestone = self.milestone(milestone_id)
        # A terminated or completed agreement has nothing left to chase.
        return self.status == "active" and milestone.is_open and milestone.due_on < as_of

    def is_flagged(self, milestone_id: str, due_on: date) -> bool:
        return due_on in self.milestone(milestone_id).flagged_due_dates

    def flag_overdue(self, *, milestone_id: str, as_of: date, recorded: Recorded) -> None:
        milestone = self.milestone(milestone_id)
        if not self.is_overdue(milestone_id, as_of):
            msg = f"milestone {milestone_id} of {self.ref} is not overdue on {as_of}"
            raise RuleViolation(msg)
        if self.is_flagged(milestone_id, milestone.due_on):
            msg = f"milestone {milestone_id} of {self.ref} was already flagged for {milestone.due_on}"
            raise AlreadyFlagged(msg)
        self.trigger_event(self.MilestoneFlaggedOverdue, milestone_id=milestone_id, due_on=milestone.due_on,
                           as_of=as_of, recorded=recorded)

    def add_contact(self, *, party: str, channel: str, address: str, recorded: Recorded) -> None:
        self.check_party(party)
        if channel not in CONTACT_CHANNELS:
            msg = f"channel must be one of {', '.join(CONTACT_CHANNELS)}, got {channel!r}"
            raise InvalidValue(msg)
        if any(c.party == party and c.channel == channel and c.address == address for c in self.contacts):
            msg = f"{party} already has the {channel} contact {address}"
            raise RuleViolation(msg)
        self.trigger_event(self.ContactAdded, party=party, channel=channel, address=address, recorded=recorded)

    def was_reminded(self, milestone_id: str, due_on: date, rung: str, recipient: str) -> bool:
        return reminder_key(milestone_id, due_on, rung, recipient) in self.reminders

    def record_reminder(self, *, milestone_id: str, due_on: date, rung: str, channel: str, recipient: str,
                        outcome: str, attempts: int, detail: str, recorded: Recorded) -> None:
        self.milestone(milestone_id)
        if self.was_reminded(milestone_id, due_on, rung, recipient):
            msg = f"the {rung} reminder for {milestone_id} was already sent to {recipient}"
            raise AlreadyReminded(msg)
        self.trigger_event(self.ReminderSent, milestone_id=milestone_id, due_on=due_on, rung=rung,
                           channel=channel, recipient=recipient, outcome=outcome, attempts=attempts,
                           detail=detail, recorded=recorded)

    def terminate(self, *, on: date, reason: str, recorded: Recorded) -> None:
        self.check_active()
        self.trigger_event(self.AgreementTerminated, on=on, reason=reason, recorded=recorded)

    def complete(self, *, on: date, reason: str, recorded: Recorded) -> None:
        self.check_active()
        self.trigger_event(self.AgreementCompleted, on=on, reason=reason, recorded=recorded)


def reminder_key(milestone_id: str, due_on: date, rung: str, recipient: str) -> str:
    """Identifies one reminder: one rung of the ladder, for one due date, to one recipient."""
    return f"{milestone_id}|{due_on.isoformat()}|{rung}|{recipient}"


def _chain_fields(event_class: Any, originator_id: UUID, version: int, prev_hash: str,
                  kwargs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Flatten the metadata into the event's fields, stamp the time, and hash the result."""
    fields = dict(kwargs)
    recorded: Recorded = fields.pop("recorded")
    fields.update(recorded.as_fields(), prev_hash=prev_hash, **extra)
    fields["timestamp"] = event_class.create_timestamp()
    fields["hash"] = event_hash(get_topic(event_class), originator_id, version, fields)
    return fields
