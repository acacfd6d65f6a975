"""The Agreement aggregate, given/when/then on events: given past events, when a command, then new events or an error."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import date
from decimal import Decimal
from itertools import pairwise
from typing import Any
from uuid import uuid5

import pytest
from eventsourcing.utils import get_topic

from domain.agreement import AGREEMENT_NAMESPACE, Agreement, agreement_id
from domain.chain import GENESIS_HASH, event_hash
from domain.errors import (
    AgreementClosed,
    AlreadyFlagged,
    AlreadyReminded,
    DomainError,
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
from domain.values import Recorded

REF = "rail-test-platform"
SIGNED_ON = date(2025, 11, 3)
TODAY = date(2026, 11, 29)
METADATA = frozenset({
    "originator_id", "originator_version", "originator_topic", "timestamp",
    "actor", "effective_on", "source", "command_id", "prev_hash", "hash",
})

Command = Callable[[Agreement], None]
Fact = tuple[str, dict[str, Any]]


def recorded(on: date = TODAY, command_id: str | None = None) -> Recorded:
    return Recorded(actor="official:mic", effective_on=on, source="minutes-2026-11", command_id=command_id)


def sign(ref: str = REF, ends_on: date = date(2029, 12, 31), on: date = SIGNED_ON) -> Agreement:
    return Agreement.sign(
        ref=ref, kind="framework_agreement",
        title={"ar": "منصة تقنية", "fr": "Plateforme technique", "en": "Technical platform"},
        parties=[
            {"short_name": "MIC", "role": "lead", "name": {"ar": "وزارة", "fr": "Ministère", "en": "Ministry"}},
            {"short_name": "ONCF", "role": "signatory", "name": {"ar": "المكتب", "fr": "Office", "en": "Office"}},
        ],
        signed_on=SIGNED_ON, place="Rabat", occasion="Industry Day", starts_on=SIGNED_ON, ends_on=ends_on,
        parent_ref=None, recorded=recorded(on, command_id="sign-1"),
    )


def replay(events: Iterable[Any]) -> Agreement:
    """The aggregate as the store rebuilds it: each past event mutates the state in order."""
    agreement: Agreement | None = None
    for event in events:
        agreement = event.mutate(agreement)
    assert isinstance(agreement, Agreement)
    return agreement


def given(*commands: Command) -> list[Any]:
    """Past events: the signing, then what each command recorded, each run on the replayed history."""
    history: list[Any] = list(sign().collect_events())
    for command in commands:
        agreement = replay(history)
        command(agreement)
        history.extend(agreement.collect_events())
    return history


def when(history: Sequence[Any], command: Command) -> list[Any]:
    """The new events one command records on the agreement rebuilt from `history`."""
    agreement = replay(history)
    command(agreement)
    return list(agreement.collect_events())


def facts(events: Iterable[Any]) -> list[Fact]:
    """Each event as (type, facts): what it says about the world, without the metadata."""
    return [(type(e).__name__, {k: v for k, v in vars(e).items() if k not in METADATA}) for e in events]


def then_refused(history: Sequence[Any], command: Command, error: type[DomainError], message: str) -> None:
    """The command fails with exactly this error and message, records nothing and leaves the state as it was."""
    agreement = replay(history)
    with pytest.raises(error) as raised:
        command(agreement)
    assert str(raised.value) == message
    assert list(agreement.collect_events()) == []
    assert agreement == replay(history)


# Commands, written once so each test reads as one sentence.

def extend(ends_on: date) -> Command:
    return lambda a: a.extend(ends_on=ends_on, instrument="annex 1", reason="three more years", recorded=recorded())


def allocate(amount: Any, currency: str = "MAD") -> Command:
    return lambda a: a.allocate_funding(amount=amount, currency=currency, fund="innovation fund",
                                        fiscal_years=[2026, 2027], purpose="platform", recorded=recorded())


def correct(version: int, amount: Decimal) -> Command:
    return lambda a: a.correct_allocation(corrects_version=version, amount=amount, reason="typo", recorded=recorded())


def disburse(amount: Any, currency: str = "MAD") -> Command:
    return lambda a: a.disburse(amount=amount, currency=currency, value_date=date(2026, 6, 15), tranche="T1",
                                recorded=recorded())


def plan(milestone_id: str = "feasibility-study", due_on: date = date(2026, 6, 30), responsible: str = "ONCF") -> Command:
    return lambda a: a.plan_milestone(milestone_id=milestone_id, title="Feasibility study", due_on=due_on,
                                      responsible=responsible, kind="study", recorded=recorded(SIGNED_ON))


def progress(percent: int, reason: str | None = None, milestone_id: str = "feasibility-study") -> Command:
    return lambda a: a.report_progress(milestone_id=milestone_id, percent=percent, note="consultant appointed",
                                       reason=reason, recorded=recorded())


def complete(completed_on: date = date(2026, 6, 20), milestone_id: str = "feasibility-study",
             effective_on: date = TODAY) -> Command:
    return lambda a: a.complete_milestone(milestone_id=milestone_id, completed_on=completed_on,
                                          evidence="study delivered", recorded=recorded(effective_on))


def reschedule(due_on: date, reason: str = "tender re-run", milestone_id: str = "feasibility-study") -> Command:
    return lambda a: a.reschedule_milestone(milestone_id=milestone_id, due_on=due_on, reason=reason, recorded=recorded())


def cancel(reason: str = "merged into site study", milestone_id: str = "feasibility-study") -> Command:
    return lambda a: a.cancel_milestone(milestone_id=milestone_id, reason=reason, recorded=recorded())


def flag(as_of: date = TODAY, milestone_id: str = "feasibility-study") -> Command:
    return lambda a: a.flag_overdue(milestone_id=milestone_id, as_of=as_of, recorded=recorded(as_of))


def remind(rung: str = "first", recipient: str = "pmo@oncf.ma", outcome: str = "sent",
           due_on: date = date(2026, 6, 30)) -> Command:
    return lambda a: a.record_reminder(milestone_id="feasibility-study", due_on=due_on, rung=rung, channel="email",
                                       recipient=recipient, outcome=outcome, attempts=1, detail="250 OK",
                                       recorded=recorded())


def terminate() -> Command:
    return lambda a: a.terminate(on=date(2026, 10, 1), reason="site not available", recorded=recorded())


def close_completed() -> Command:
    return lambda a: a.complete(on=date(2026, 10, 1), reason="all delivered", recorded=recorded())


def add_contact(party: str = "ONCF", channel: str = "email", address: str = "pmo@oncf.ma") -> Command:
    return lambda a: a.add_contact(party=party, channel=channel, address=address, recorded=recorded())


# Signing.

def test_signing_records_one_event_with_the_agreement_and_its_metadata() -> None:
    [event] = list[Any](sign().collect_events())
    assert facts([event]) == [("AgreementSigned", {
        "ref": REF, "kind": "framework_agreement",
        "title": {"ar": "منصة تقنية", "fr": "Plateforme technique", "en": "Technical platform"},
        "parties": [
            {"short_name": "MIC", "role": "lead", "name": {"ar": "وزارة", "fr": "Ministère", "en": "Ministry"}},
            {"short_name": "ONCF", "role": "signatory", "name": {"ar": "المكتب", "fr": "Office", "en": "Office"}},
        ],
        "signed_on": SIGNED_ON, "place": "Rabat", "occasion": "Industry Day", "starts_on": SIGNED_ON,
        "ends_on": date(2029, 12, 31), "parent_ref": None,
    })]
    assert (event.originator_version, event.actor, event.effective_on, event.source, event.command_id) == (
        1, "official:mic", SIGNED_ON, "minutes-2026-11", "sign-1")
    assert event.prev_hash == GENESIS_HASH


def test_the_aggregate_id_is_derived_from_the_ref() -> None:
    assert sign().id == agreement_id(REF) == uuid5(AGREEMENT_NAMESPACE, REF)
    assert sign("made-in-morocco").id == agreement_id("made-in-morocco") != agreement_id(REF)


def test_a_signed_agreement_starts_active_with_nothing_allocated() -> None:
    agreement = replay(given())
    assert (agreement.ref, agreement.status, agreement.ends_on, agreement.lead_party) == (REF, "active",
                                                                                        date(2029, 12, 31), "MIC")
    assert (agreement.allocations, agreement.disbursed, agreement.milestones) == ([], {}, {})
    assert agreement.version_of_command("sign-1") == 1


@pytest.mark.parametrize(("changes", "message"), [
    ({"ends_on": SIGNED_ON}, "the term must end after it starts (2025-11-03 .. 2025-11-03)"),
    ({"parties": []}, "an agreement needs at least one party"),
    ({"parties": [{"short_name": "MIC", "role": "lead", "name": {}}, {"short_name": "MIC", "role": "signatory", "name": {}}]},
     "party short names must be unique, got MIC, MIC"),
])
def test_signing_refuses_an_agreement_that_cannot_exist(changes: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {
        "ref": REF, "kind": "annex", "title": {"ar": "أ", "fr": "a", "en": "a"},
        "parties": [{"short_name": "MIC", "role": "lead", "name": {}}], "signed_on": SIGNED_ON, "place": "Rabat",
        "occasion": "Industry Day", "starts_on": SIGNED_ON, "ends_on": date(2028, 12, 31), "parent_ref": None,
        "recorded": recorded(),
    }
    with pytest.raises(InvalidValue) as raised:
        Agreement.sign(**{**values, **changes})
    assert str(raised.value) == message


# The term.

def test_an_extension_moves_the_end_of_the_term() -> None:
    new = when(given(), extend(date(2030, 12, 31)))
    assert facts(new) == [("AgreementExtended", {"previous_ends_on": date(2029, 12, 31), "ends_on": date(2030, 12, 31),
                                                 "instrument": "annex 1", "reason": "three more years"})]
    assert replay([*given(), *new]).ends_on == date(2030, 12, 31)


@pytest.mark.parametrize("ends_on", [date(2029, 12, 31), date(2028, 1, 1)])
def test_an_extension_cannot_shorten_or_keep_the_term(ends_on: date) -> None:
    then_refused(given(), extend(ends_on), TermNotExtended,
                 f"an extension must end after the current term (2029-12-31); got {ends_on}")


def test_beneficiaries_are_added_once_each() -> None:
    def add(names: list[str]) -> Command:
        return lambda a: a.add_beneficiaries(beneficiaries=names, fund="innovation fund", recorded=recorded())

    history = given(add(["startups"]))
    new = when(history, add(["startups", "video-game companies"]))
    assert facts(new) == [("BeneficiariesAdded", {"beneficiaries": ["startups", "video-game companies"],
                                                  "fund": "innovation fund"})]
    assert replay([*history, *new]).beneficiaries == ["startups", "video-game companies"]
    then_refused(history, add([]), InvalidValue, "name at least one beneficiary")


# Funding.

def test_funding_is_allocated_as_a_decimal_with_its_currency() -> None:
    new = when(given(), allocate(Decimal("900000000")))
    assert facts(new) == [("FundingAllocated", {"amount": Decimal("900000000"), "currency": "MAD",
                                                "fund": "innovation fund", "fiscal_years": [2026, 2027],
                                                "purpose": "platform"})]
    agreement = replay([*given(), *new])
    assert agreement.allocated("MAD") == Decimal("900000000")
    assert type(agreement.allocated("MAD")) is Decimal
    assert agreement.allocated("EUR") == Decimal(0)


@pytest.mark.parametrize(("amount", "currency", "message"), [
    (Decimal(0), "MAD", "amount must be greater than zero, got 0"),
    (Decimal("-5"), "MAD", "amount must be greater than zero, got -5"),
    (100.0, "MAD", "amount must be a decimal number, got 100.0"),
    (100, "MAD", "amount must be a decimal number, got 100"),
    (Decimal("NaN"), "MAD", "amount must be a decimal number, got Decimal('NaN')"),
    (Decimal(10), "dirham", "currency must be a three-letter code such as MAD, got 'dirham'"),
])
def test_amounts_are_positive_decimals_never_floats(amount: Any, currency: str, message: str) -> None:
    then_refused(given(), allocate(amount, currency), InvalidValue, message)
    then_refused(given(allocate(Decimal(1000))), disburse(amount, currency), InvalidValue, message)


def test_no_funding_on_a_terminated_agreement() -> None:
    then_refused(given(terminate()), allocate(Decimal(10)), AgreementClosed,
                 "agreement rail-test-platform is terminated; it takes no new facts")


def test_a_disbursement_is_recorded_up_to_the_allocation() -> None:
    history = given(allocate(Decimal(1000)), disburse(Decimal(400)))
    new = when(history, disburse(Decimal(600)))
    assert facts(new) == [("FundingDisbursed", {"amount": Decimal(600), "currency": "MAD",
                                                "value_date": date(2026, 6, 15), "tranche": "T1"})]
    assert replay([*history, *new]).disbursed == {"MAD": Decimal(1000)}


def test_no_disbursement_beyond_the_allocation() -> None:
    then_refused(given(allocate(Decimal(1000)), disburse(Decimal(400))), disburse(Decimal("600.01")), OverDisbursement,
                 "disbursing 600.01 MAD would exceed the allocation: 1000 allocated, 400 already disbursed")


def test_an_allocation_in_another_currency_does_not_cover_a_disbursement() -> None:
    then_refused(given(allocate(Decimal(1000), "EUR")), disburse(Decimal(1)), OverDisbursement,
                 "disbursing 1 MAD would exceed the allocation: 0 allocated, 0 already disbursed")


def test_an_allocation_is_corrected_by_a_new_event_naming_its_version() -> None:
    history = given(allocate(Decimal(1000)), disburse(Decimal(300)))
    new = when(history, correct(2, Decimal(500)))
    assert facts(new) == [("FundingAllocationCorrected", {"corrects_version": 2, "amount": Decimal(500),
                                                          "reason": "typo"})]
    agreement = replay([*history, *new])
    assert (agreement.allocated("MAD"), agreement.version) == (Decimal(500), 4)
    assert facts(history[1:2])[0][1]["amount"] == Decimal(1000)


def test_a_correction_cannot_drop_the_allocation_below_what_was_disbursed() -> None:
    then_refused(given(allocate(Decimal(1000)), allocate(Decimal(200)), disburse(Decimal(900))), correct(2, Decimal(600)),
                 OverDisbursement, "the correction would leave 800 MAD allocated, less than the 900 already disbursed")


def test_a_correction_must_name_an_allocation() -> None:
    then_refused(given(allocate(Decimal(1000))), correct(1, Decimal(5)), UnknownVersion,
                 "version 1 of rail-test-platform is not a funding allocation")


# Milestones.

def test_a_milestone_is_planned_for_a_party() -> None:
    new = when(given(), plan())
    assert facts(new) == [("MilestonePlanned", {"milestone_id": "feasibility-study", "title": "Feasibility study",
                                                "due_on": date(2026, 6, 30), "responsible": "ONCF", "kind": "study"})]
    milestone = replay([*given(), *new]).milestones["feasibility-study"]
    assert (milestone.status, milestone.percent, milestone.due_on, milestone.original_due_on) == (
        "planned", 0, date(2026, 6, 30), date(2026, 6, 30))


def test_a_milestone_id_is_planned_once() -> None:
    then_refused(given(plan()), plan(), DuplicateMilestone, "rail-test-platform already has a milestone 'feasibility-study'")


def test_a_milestone_needs_a_responsible_party_of_the_agreement() -> None:
    then_refused(given(), plan(responsible="CGEM"), UnknownParty, "CGEM is not a party to rail-test-platform (parties: MIC, ONCF)")


def test_a_milestone_is_corrected_by_a_new_event() -> None:
    def correct_title(milestone_id: str) -> Command:
        return lambda a: a.correct_milestone(milestone_id=milestone_id, title="Feasibility and impact study",
                                             responsible="MIC", reason="wrong owner", recorded=recorded())

    new = when(given(plan()), correct_title("feasibility-study"))
    assert facts(new) == [("MilestoneCorrected", {"milestone_id": "feasibility-study",
                                                  "title": "Feasibility and impact study", "responsible": "MIC",
                                                  "reason": "wrong owner"})]
    then_refused(given(plan()), correct_title("site"), UnknownMilestone, "rail-test-platform has no milestone 'site'")


def test_progress_is_reported_in_percent() -> None:
    new = when(given(plan()), progress(40))
    assert facts(new) == [("MilestoneProgressReported", {"milestone_id": "feasibility-study", "percent": 40,
                                                         "note": "consultant appointed", "reason": None})]
    milestone = replay([*given(plan()), *new]).milestones["feasibility-study"]
    assert (milestone.status, milestone.percent) == ("in_progress", 40)


def test_progress_decrease_needs_a_reason() -> None:
    then_refused(given(plan(), progress(40)), progress(30), RuleViolation,
                 "progress on feasibility-study would fall from 40% to 30%; give a reason")
    new = when(given(plan(), progress(40)), progress(30, reason="scope doubled"))
    assert facts(new)[0][1]["percent"] == 30
    assert facts(new)[0][1]["reason"] == "scope doubled"


@pytest.mark.parametrize("percent", [-1, 101])
def test_progress_is_between_0_and_100(percent: int) -> None:
    then_refused(given(plan()), progress(percent), InvalidValue, f"progress is a percentage from 0 to 100, got {percent}")


def test_progress_on_an_unknown_milestone_is_refused() -> None:
    then_refused(given(plan()), progress(10, milestone_id="site"), UnknownMilestone, "rail-test-platform has no milestone 'site'")


def test_a_milestone_is_completed_on_a_date_that_may_be_before_it_was_recorded() -> None:
    new = when(given(plan()), complete(date(2026, 6, 20)))
    assert facts(new) == [("MilestoneCompleted", {"milestone_id": "feasibility-study", "completed_on": date(2026, 6, 20),
                                                  "evidence": "study delivered"})]
    assert new[0].effective_on == TODAY
    milestone = replay([*given(plan()), *new]).milestones["feasibility-study"]
    assert (milestone.status, milestone.percent, milestone.completed_on) == ("completed", 100, date(2026, 6, 20))


def test_a_completed_milestone_cannot_be_completed_again() -> None:
    then_refused(given(plan(), complete()), complete(), MilestoneClosed,
                 "milestone feasibility-study of rail-test-platform is completed")


def test_a_completion_cannot_be_dated_after_its_effective_date() -> None:
    then_refused(given(plan()), complete(date(2026, 12, 1)), InvalidValue,
                 "a milestone cannot be completed on 2026-12-01, after the date it is recorded as effective")


def test_a_reschedule_keeps_the_old_date_in_history() -> None:
    new = when(given(plan()), reschedule(date(2026, 12, 31)))
    assert facts(new) == [("MilestoneRescheduled", {"milestone_id": "feasibility-study", "previous_due_on": date(2026, 6, 30),
                                                    "due_on": date(2026, 12, 31), "reason": "tender re-run"})]
    milestone = replay([*given(plan()), *new]).milestones["feasibility-study"]
    assert (milestone.due_on, milestone.original_due_on) == (date(2026, 12, 31), date(2026, 6, 30))


def test_a_reschedule_must_change_the_date_and_give_a_reason() -> None:
    then_refused(given(plan()), reschedule(date(2026, 6, 30)), RuleViolation,
                 "milestone feasibility-study is already due on 2026-06-30")
    then_refused(given(plan()), reschedule(date(2026, 7, 30), reason="  "), InvalidValue, "a reschedule needs a reason")


def test_a_cancelled_milestone_takes_no_more_facts() -> None:
    new = when(given(plan()), cancel())
    assert facts(new) == [("MilestoneCancelled", {"milestone_id": "feasibility-study", "reason": "merged into site study"})]
    history = [*given(plan()), *new]
    then_refused(history, cancel(), MilestoneClosed, "milestone feasibility-study of rail-test-platform is cancelled")
    then_refused(history, progress(50), MilestoneClosed, "milestone feasibility-study of rail-test-platform is cancelled")
    then_refused(given(plan()), cancel("\t"), InvalidValue, "a cancellation needs a reason")


# Overdue flags and reminders: the scheduler's dedup rests on these.

def test_an_overdue_milestone_is_flagged_with_the_missed_date() -> None:
    new = when(given(plan()), flag())
    assert facts(new) == [("MilestoneFlaggedOverdue", {"milestone_id": "feasibility-study", "due_on": date(2026, 6, 30),
                                                       "as_of": TODAY})]
    agreement = replay([*given(plan()), *new])
    assert agreement.is_flagged("feasibility-study", date(2026, 6, 30))
    assert not agreement.is_flagged("feasibility-study", date(2026, 7, 1))


def test_a_milestone_is_flagged_once_per_due_date() -> None:
    then_refused(given(plan(), flag(date(2026, 7, 1))), flag(TODAY), AlreadyFlagged,
                 "milestone feasibility-study of rail-test-platform was already flagged for 2026-06-30")


def test_a_rescheduled_milestone_is_flagged_again_for_its_new_date() -> None:
    history = given(plan(), flag(date(2026, 7, 1)), reschedule(date(2026, 9, 30)))
    new = when(history, flag(TODAY))
    assert facts(new) == [("MilestoneFlaggedOverdue", {"milestone_id": "feasibility-study", "due_on": date(2026, 9, 30),
                                                       "as_of": TODAY})]


@pytest.mark.parametrize(("commands", "as_of"), [
    ((plan(),), date(2026, 6, 30)),
    ((plan(), complete()), TODAY),
    ((plan(), cancel()), TODAY),
])
def test_only_an_open_milestone_past_its_due_date_is_flagged(commands: tuple[Command, ...], as_of: date) -> None:
    then_refused(given(*commands), flag(as_of), RuleViolation,
                 f"milestone feasibility-study of rail-test-platform is not overdue on {as_of}")


@pytest.mark.parametrize("closing", [terminate(), close_completed()])
def test_milestones_of_a_closed_agreement_are_not_overdue(closing: Command) -> None:
    history = given(plan(), closing)
    assert not replay(history).is_overdue("feasibility-study", TODAY)
    then_refused(history, flag(), RuleViolation, "milestone feasibility-study of rail-test-platform is not overdue on 2026-11-29")


def test_a_reminder_is_recorded_once_per_rung_due_date_and_recipient() -> None:
    new = when(given(plan()), remind())
    assert facts(new) == [("ReminderSent", {"milestone_id": "feasibility-study", "due_on": date(2026, 6, 30), "rung": "first",
                                            "channel": "email", "recipient": "pmo@oncf.ma", "outcome": "sent", "attempts": 1,
                                            "detail": "250 OK"})]
    history = [*given(plan()), *new]
    assert replay(history).was_reminded("feasibility-study", date(2026, 6, 30), "first", "pmo@oncf.ma")
    then_refused(history, remind(), AlreadyReminded, "the first reminder for feasibility-study was already sent to pmo@oncf.ma")
    assert len(when(history, remind(rung="second"))) == 1
    assert len(when(history, remind(recipient="dg@oncf.ma"))) == 1
    assert len(when(history, remind(due_on=date(2026, 9, 30)))) == 1


def test_a_failed_reminder_does_not_count_as_sent() -> None:
    history = given(plan(), remind(outcome="failed"))
    assert not replay(history).was_reminded("feasibility-study", date(2026, 6, 30), "first", "pmo@oncf.ma")
    assert len(when(history, remind())) == 1


def test_a_reminder_names_a_planned_milestone() -> None:
    then_refused(given(), remind(), UnknownMilestone, "rail-test-platform has no milestone 'feasibility-study'")


def test_contacts_belong_to_a_party_and_a_known_channel() -> None:
    new = when(given(), add_contact())
    assert facts(new) == [("ContactAdded", {"party": "ONCF", "channel": "email", "address": "pmo@oncf.ma"})]
    assert replay([*given(), *new]).contacts[0].address == "pmo@oncf.ma"
    then_refused(given(), add_contact(party="CGEM"), UnknownParty, "CGEM is not a party to rail-test-platform (parties: MIC, ONCF)")
    then_refused(given(), add_contact(channel="sms"), InvalidValue, "channel must be one of email, webhook, log, got 'sms'")
    then_refused(given(add_contact()), add_contact(), RuleViolation, "ONCF already has the email contact pmo@oncf.ma")


# Closing an agreement.

@pytest.mark.parametrize(("closing", "event_type", "status"), [
    (terminate(), "AgreementTerminated", "terminated"),
    (close_completed(), "AgreementCompleted", "completed"),
])
def test_a_closed_agreement_takes_no_new_commitments(closing: Command, event_type: str, status: str) -> None:
    new = when(given(), closing)
    assert [name for name, _ in facts(new)] == [event_type]
    assert facts(new)[0][1]["on"] == date(2026, 10, 1)
    history = [*given(), *new]
    assert replay(history).status == status
    closed = f"agreement rail-test-platform is {status}; it takes no new facts"
    for command in (extend(date(2031, 1, 1)), allocate(Decimal(5)), plan(), terminate(), close_completed()):
        then_refused(history, command, AgreementClosed, closed)


def test_disbursement_on_a_terminated_agreement_is_refused() -> None:
    then_refused(given(allocate(Decimal(10)), terminate()), disburse(Decimal(5)), AgreementClosed,
                 "agreement rail-test-platform is terminated; it takes no new facts")


# Metadata and the chain.

def test_every_event_carries_its_metadata_and_links_to_the_one_before() -> None:
    history = given(allocate(Decimal(1000)), plan(), progress(10), flag(), remind())
    assert [e.originator_version for e in history] == [1, 2, 3, 4, 5, 6]
    assert history[0].prev_hash == GENESIS_HASH
    for before, after in pairwise(history):
        assert after.prev_hash == before.hash
    for event in history:
        fields = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
        assert event.hash == event_hash(get_topic(type(event)), event.originator_id,
                                        event.originator_version, fields)
        assert event.actor == "official:mic"
        assert event.source == "minutes-2026-11"


def test_a_changed_fact_changes_the_hash() -> None:
    [event] = list[Any](sign().collect_events())
    fields = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
    topic = get_topic(type(event))
    assert event_hash(topic, event.originator_id, 1, {**fields, "place": "Casablanca"}) != event.hash
    assert event_hash(topic, event.originator_id, 2, fields) != event.hash


def test_the_command_id_is_remembered_with_the_version_it_produced() -> None:
    agreement = replay(given(plan(), lambda a: a.add_contact(party="MIC", channel="log", address="desk",
                                                             recorded=recorded(command_id="cmd-42"))))
    assert agreement.version_of_command("cmd-42") == 3
    assert agreement.version_of_command("cmd-43") is None
    assert agreement.version_of_command(None) is None
