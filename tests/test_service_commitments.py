"""The application service on a real SQLite file and a real PostgreSQL database: one test body, both stores."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from app import commands as c
from app.errors import AgreementExists, AgreementNotFound
from app.service import CommitmentService, WriteResult
from app.settings import Settings
from domain.agreement import agreement_id
from domain.chain import GENESIS_HASH, event_hash
from domain.errors import InvalidValue, MilestoneClosed, OverDisbursement, UnknownMilestone
from tests.test_domain_agreement import replay

REF = "rail-test-platform"
NOW = datetime(2026, 11, 29, 10, 0, tzinfo=ZoneInfo("Africa/Casablanca"))
ServiceFactory = Callable[..., CommitmentService]


@pytest.fixture
def services(database_url: str) -> Iterator[ServiceFactory]:
    """Builds services on the test's database (each a separate cache, as separate processes would have)."""
    built: list[CommitmentService] = []

    def build(**settings: Any) -> CommitmentService:
        service = CommitmentService(Settings(database_url=database_url, **settings), clock=lambda: NOW)
        built.append(service)
        return service

    yield build
    for service in built:
        service.close()


@pytest.fixture
def service(services: ServiceFactory) -> CommitmentService:
    return services()


def signing(ref: str = REF, command_id: str | None = None) -> c.SignAgreement:
    return c.SignAgreement.model_validate({
        "ref": ref, "kind": "framework_agreement",
        "title": {"ar": "منصة تقنية للتجارب", "fr": "Plateforme d'essais", "en": "Rail test platform"},
        "parties": [{"short_name": "MIC", "role": "lead", "name": {"ar": "وزارة الصناعة والتجارة", "fr": "MIC", "en": "MIC"}},
                    {"short_name": "ONCF", "name": {"ar": "المكتب الوطني للسكك الحديدية", "fr": "ONCF", "en": "ONCF"}}],
        "signed_on": "2025-11-03", "place": "Rabat", "occasion": "3rd National Industry Day",
        "starts_on": "2025-11-03", "ends_on": "2029-12-31", "effective_on": "2025-11-03", "command_id": command_id,
    })


def funding(amount: str, command_id: str | None = None) -> c.AllocateFunding:
    return c.AllocateFunding(amount=Decimal(amount), fund="innovation fund", fiscal_years=[2026], purpose="platform",
                             command_id=command_id)


def disbursement(amount: str, command_id: str | None = None) -> c.DisburseFunding:
    return c.DisburseFunding(amount=Decimal(amount), value_date=date(2026, 6, 15), tranche="T1", command_id=command_id)


def planning(milestone_id: str = "feasibility-study", command_id: str | None = None) -> c.PlanMilestone:
    return c.PlanMilestone(milestone_id=milestone_id, title="Feasibility study", due_on=date(2026, 6, 30),
                           responsible="ONCF", kind="study", effective_on=date(2025, 11, 3), command_id=command_id)


def progress(percent: int, command_id: str | None = None) -> c.ReportProgress:
    return c.ReportProgress(percent=percent, note="consultant appointed", command_id=command_id)


def stored_rows(service: CommitmentService) -> list[tuple[int, str, int, str, dict[str, Any]]]:
    """Every stored event, as the store holds it: position, topic, version, originator and decoded fields."""
    rows = service.ledger.recorder.select_notifications(1, 10_000)
    return [(r.id, r.topic, r.originator_version, str(r.originator_id), service.ledger.mapper.transcoder.decode(r.state))
            for r in rows]


def assert_log_holds(service: CommitmentService, count: int) -> None:
    """The log holds `count` events in increasing positions (PostgreSQL may skip ids a conflicting insert used)."""
    positions = [row[0] for row in stored_rows(service)]
    assert len(positions) == count
    assert positions == sorted(set(positions))
    assert service.max_position() == positions[-1]


def test_an_agreement_is_signed_extended_funded_and_its_milestones_recorded(service: CommitmentService) -> None:
    results = [
        service.sign(signing(), actor="official:mic"),
        service.extend(REF, c.ExtendAgreement(ends_on=date(2030, 12, 31), instrument="annex 1", reason="more time"),
                       actor="official:mic"),
        service.add_beneficiaries(REF, c.AddBeneficiaries(beneficiaries=["startups"], fund="innovation fund"),
                                  actor="official:mic"),
        service.allocate_funding(REF, funding("1000000.50"), actor="official:mic"),
        service.disburse(REF, disbursement("400000"), actor="official:mic"),
        service.plan_milestone(REF, planning(), actor="official:mic"),
        service.plan_milestone(REF, planning("site-designation"), actor="official:mic"),
        service.report_progress(REF, "feasibility-study", progress(40), actor="official:oncf"),
        service.complete_milestone(REF, "feasibility-study", c.CompleteMilestone(
            completed_on=date(2026, 10, 10), evidence="study delivered", effective_on=date(2026, 10, 10)),
            actor="official:oncf"),
        service.reschedule_milestone(REF, "site-designation", c.RescheduleMilestone(due_on=date(2027, 3, 31), reason="land"),
                                     actor="official:mic"),
        service.add_contact(REF, c.AddContact(party="ONCF", channel="email", address="pmo@oncf.ma"), actor="official:mic"),
    ]
    assert [r.version for r in results] == list(range(1, 12))
    assert [r.position for r in results] == list(range(1, 12))
    assert {r.ref for r in results} == {REF}

    state = service.show(REF)
    assert state["term"] == {"starts_on": "2025-11-03", "ends_on": "2030-12-31"}
    assert state["funding"] == {"MAD": {"allocated": "1000000.50", "disbursed": "400000"}}
    assert state["beneficiaries"] == ["startups"]
    assert [(m["milestone_id"], m["status"], m["percent"], m["due_on"], m["original_due_on"], m["completed_on"])
            for m in state["milestones"]] == [
        ("feasibility-study", "completed", 100, "2026-06-30", "2026-06-30", "2026-10-10"),
        ("site-designation", "planned", 0, "2027-03-31", "2026-06-30", None),
    ]
    assert (state["status"], state["version"]) == ("active", 11)
    assert [e["type"] for e in service.history(REF)] == [
        "AgreementSigned", "AgreementExtended", "BeneficiariesAdded", "FundingAllocated", "FundingDisbursed",
        "MilestonePlanned", "MilestonePlanned", "MilestoneProgressReported", "MilestoneCompleted", "MilestoneRescheduled",
        "ContactAdded"]


def test_each_history_entry_has_the_contract_keys_and_links_to_the_one_before(service: CommitmentService) -> None:
    service.sign(signing(), actor="official:mic")
    service.plan_milestone(REF, planning(), actor="official:mic")
    service.cancel_milestone(REF, "feasibility-study", c.CancelMilestone(reason="merged", source="minutes.pdf"),
                             actor="official:oncf")
    entries = list(service.history(REF))
    assert [set(e) for e in entries] == [{"version", "type", "recorded_at", "effective_on", "actor", "source", "command_id",
                                          "data", "hash", "prev_hash"}] * 3
    assert [(e["version"], e["effective_on"], e["actor"]) for e in entries] == [
        (1, "2025-11-03", "official:mic"), (2, "2025-11-03", "official:mic"), (3, "2026-11-29", "official:oncf")]
    assert entries[2]["data"] == {"milestone_id": "feasibility-study", "reason": "merged"}
    assert entries[2]["source"] == "minutes.pdf"
    assert [e["prev_hash"] for e in entries] == [GENESIS_HASH, entries[0]["hash"], entries[1]["hash"]]


def test_the_stored_rows_form_a_hash_chain_that_recomputes(service: CommitmentService) -> None:
    service.sign(signing(), actor="official:mic")
    service.allocate_funding(REF, funding("900000000"), actor="official:mic")
    service.disburse(REF, disbursement("0.01"), actor="official:mic")
    rows = stored_rows(service)
    assert [(position, version) for position, _, version, _, _ in rows] == [(1, 1), (2, 2), (3, 3)]
    previous = GENESIS_HASH
    for _, topic, version, originator, fields in rows:
        assert fields["prev_hash"] == previous
        assert event_hash(topic, UUID(originator), version, fields) == fields["hash"]
        previous = fields["hash"]
    assert rows[1][4]["amount"] == Decimal(900000000)
    assert rows[2][4]["amount"] == Decimal("0.01")


def test_a_repeated_command_id_returns_the_first_result_and_writes_nothing(service: CommitmentService) -> None:
    first_sign = service.sign(signing(command_id="sign-1"), actor="official:mic")
    first_fund = service.allocate_funding(REF, funding("1000", command_id="fund-1"), actor="official:mic")
    first_plan = service.plan_milestone(REF, planning(command_id="plan-1"), actor="official:mic")
    first_progress = service.report_progress(REF, "feasibility-study", progress(30, "progress-1"), actor="official:oncf")
    service.disburse(REF, disbursement("100"), actor="official:mic")
    position = service.max_position()
    assert position == 5

    assert service.sign(signing(command_id="sign-1"), actor="official:mic") == first_sign == WriteResult(REF, 1, 1)
    assert service.allocate_funding(REF, funding("1000", command_id="fund-1"), actor="x") == first_fund == WriteResult(REF, 2, 2)
    # The key decides, not the content: a retry with a changed body is still the same command.
    assert service.allocate_funding(REF, funding("5", command_id="fund-1"), actor="x") == first_fund
    assert service.plan_milestone(REF, planning(command_id="plan-1"), actor="x") == first_plan == WriteResult(REF, 3, 3)
    assert service.report_progress(REF, "feasibility-study", progress(30, "progress-1"), actor="x") == first_progress
    assert service.max_position() == position
    assert service.show(REF)["funding"] == {"MAD": {"allocated": "1000", "disbursed": "100"}}


def test_signing_an_existing_ref_is_a_conflict_unless_it_is_the_same_command(service: CommitmentService) -> None:
    service.sign(signing(command_id="sign-1"), actor="official:mic")
    for command_id in (None, "sign-2"):
        with pytest.raises(AgreementExists) as raised:
            service.sign(signing(command_id=command_id), actor="official:mic")
        assert str(raised.value) == "agreement rail-test-platform is already signed"
    assert service.max_position() == 1


def test_an_unknown_ref_is_not_found_and_writes_nothing(service: CommitmentService) -> None:
    service.sign(signing(), actor="official:mic")
    for call in (lambda: service.show("no-such-ref"), lambda: service.history("no-such-ref"),
                 lambda: service.allocate_funding("no-such-ref", funding("10"), actor="x"),
                 lambda: service.sign(signing("annex-1").model_copy(update={"parent_ref": "no-such-ref"}), actor="x")):
        with pytest.raises(AgreementNotFound) as raised:
            call()
        assert str(raised.value) == "no agreement with ref 'no-such-ref'"
    assert service.max_position() == 1


def test_a_refused_command_writes_nothing_and_leaves_the_agreement_usable(service: CommitmentService) -> None:
    service.sign(signing(), actor="official:mic")
    service.allocate_funding(REF, funding("1000"), actor="official:mic")
    with pytest.raises(OverDisbursement) as raised:
        service.disburse(REF, disbursement("1000.01"), actor="official:mic")
    assert str(raised.value) == "disbursing 1000.01 MAD would exceed the allocation: 1000 allocated, 0 already disbursed"
    with pytest.raises(UnknownMilestone):
        service.report_progress(REF, "nope", progress(10), actor="official:mic")
    assert service.max_position() == 2
    assert service.disburse(REF, disbursement("1000"), actor="official:mic") == WriteResult(REF, 3, 3)


def test_two_services_with_stale_caches_both_land_their_writes(services: ServiceFactory) -> None:
    first, second = services(), services()
    first.sign(signing(), actor="a")
    first.plan_milestone(REF, planning(), actor="a")
    second.report_progress(REF, "feasibility-study", progress(10), actor="b")  # second now caches version 3
    first.report_progress(REF, "feasibility-study", progress(20), actor="a")   # first's cache was at 2: conflict, retry
    second.report_progress(REF, "feasibility-study", progress(30), actor="b")  # second's cache is at 3: conflict, retry
    entries = list(first.history(REF))
    assert [(e["version"], e["actor"], e["data"].get("percent")) for e in entries] == [
        (1, "a", None), (2, "a", None), (3, "b", 10), (4, "a", 20), (5, "b", 30)]
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]
    assert_log_holds(first, 5)


def test_a_stale_cache_does_not_refuse_what_the_stored_state_allows(services: ServiceFactory) -> None:
    first, second = services(), services()
    first.sign(signing(), actor="a")
    first.allocate_funding(REF, funding("100"), actor="a")        # first caches version 2
    second.allocate_funding(REF, funding("900"), actor="b")       # the store now holds 1000
    second.plan_milestone(REF, planning(), actor="b")
    assert first.disburse(REF, disbursement("700"), actor="a").version == 5
    assert first.report_progress(REF, "feasibility-study", progress(50), actor="a").version == 6
    with pytest.raises(OverDisbursement):
        first.disburse(REF, disbursement("300.01"), actor="a")
    assert_log_holds(first, 6)
    assert first.show(REF)["funding"] == {"MAD": {"allocated": "1000", "disbursed": "700"}}


def test_a_command_repeated_through_another_service_returns_the_first_result(services: ServiceFactory) -> None:
    first, second = services(), services()
    first.sign(signing(), actor="a")
    first.plan_milestone(REF, planning(), actor="a")
    second.plan_milestone(REF, planning("site-designation"), actor="b")  # second caches version 3
    done = first.complete_milestone(REF, "feasibility-study", c.CompleteMilestone(
        completed_on=date(2026, 11, 1), evidence="report", command_id="complete-1"), actor="a")
    again = second.complete_milestone(REF, "feasibility-study", c.CompleteMilestone(
        completed_on=date(2026, 11, 1), evidence="report", command_id="complete-1"), actor="b")
    assert again == done
    assert done.version == 4
    assert_log_holds(second, 4)
    with pytest.raises(MilestoneClosed):
        second.complete_milestone(REF, "feasibility-study", c.CompleteMilestone(
            completed_on=date(2026, 11, 1), evidence="report", command_id="complete-2"), actor="b")


def test_snapshots_are_taken_every_interval_and_a_new_service_loads_from_them(services: ServiceFactory) -> None:
    service = services(snapshot_interval=4)
    service.sign(signing(), actor="a")
    service.allocate_funding(REF, funding("1000"), actor="a")
    service.plan_milestone(REF, planning(), actor="a")
    for percent in range(10, 80, 10):
        service.report_progress(REF, "feasibility-study", progress(percent), actor="a")
    assert service.max_position() == 10
    assert service.ledger.snapshots is not None
    snapshots = list(service.ledger.snapshots.get(agreement_id(REF)))
    assert [s.originator_version for s in snapshots] == [4, 8]

    fresh = services(snapshot_interval=4)
    loaded = fresh.agreement(REF)
    assert loaded == replay(fresh.ledger.events.get(agreement_id(REF)))
    assert fresh.show(REF) == service.show(REF)
    assert fresh.show(REF)["milestones"][0]["percent"] == 70
    assert fresh.report_progress(REF, "feasibility-study", progress(80), actor="b") == WriteResult(REF, 11, 11)
    entries = list(fresh.history(REF))
    assert [e["prev_hash"] for e in entries] == [GENESIS_HASH] + [e["hash"] for e in entries[:-1]]


def test_state_as_recorded_and_as_effective(service: CommitmentService) -> None:
    service.sign(signing(), actor="a")
    service.plan_milestone(REF, planning(), actor="a")
    service.complete_milestone(REF, "feasibility-study", c.CompleteMilestone(
        completed_on=date(2026, 6, 20), evidence="report", effective_on=date(2026, 6, 20)), actor="a")
    assert service.show_effective_on(REF, date(2026, 6, 19))["milestones"][0]["status"] == "planned"
    assert service.show_effective_on(REF, date(2026, 6, 20))["milestones"][0]["status"] == "completed"
    with pytest.raises(AgreementNotFound):
        service.show_effective_on(REF, date(2025, 11, 2))
    recorded_today = datetime.now(tz=ZoneInfo("Africa/Casablanca")).date()
    assert service.show_as_of(REF, recorded_today)["version"] == 3
    with pytest.raises(AgreementNotFound):
        service.show_as_of(REF, date(2020, 1, 1))


def test_agreements_are_listed_in_signing_order(service: CommitmentService) -> None:
    service.sign(signing("made-in-morocco"), actor="a")
    service.sign(signing(), actor="a")
    service.plan_milestone(REF, planning(), actor="a")
    service.allocate_funding(REF, funding("900000000"), actor="a")
    assert service.refs() == ["made-in-morocco", REF]
    rows = service.list_agreements()
    assert [r["ref"] for r in rows] == ["made-in-morocco", REF]
    assert (rows[1]["allocated"], rows[1]["milestones_open"], rows[1]["overdue_count"], rows[1]["version"]) == (
        {"MAD": "900000000"}, 1, 1, 3)


def test_sqlite_connections_use_wal_and_full_synchronous_commits(sqlite_url: str) -> None:
    service = CommitmentService(Settings(database_url=sqlite_url), clock=lambda: NOW)
    try:
        service.sign(signing(), actor="a")
        recorder: Any = service.ledger.recorder
        assert service.ledger.snapshots is not None
        assert service.ledger.snapshots.recorder.datastore is recorder.datastore  # type: ignore[attr-defined]
        for commit in (False, True):
            with recorder.datastore.transaction(commit=commit) as cursor:
                cursor.execute("PRAGMA journal_mode")
                journal_mode = cursor.fetchone()[0]
                cursor.execute("PRAGMA synchronous")
                synchronous = cursor.fetchone()[0]
            assert (journal_mode, synchronous) == ("wal", 2)
    finally:
        service.close()


def test_an_amount_in_exponent_form_is_stored_as_a_plain_decimal(service: CommitmentService) -> None:
    service.sign(signing(), actor="a")
    service.allocate_funding(REF, c.AllocateFunding.model_validate({"amount": "9e8", "fund": "f", "purpose": "p"}), actor="a")
    service.disburse(REF, c.DisburseFunding.model_validate({"amount": "1.5E+2", "value_date": "2026-06-15", "tranche": "T1"}),
                     actor="a")
    assert service.show(REF)["funding"] == {"MAD": {"allocated": "900000000", "disbursed": "150"}}
    assert [row[4]["amount"] for row in stored_rows(service)[1:]] == [Decimal(900000000), Decimal(150)]
    assert [str(row[4]["amount"]) for row in stored_rows(service)[1:]] == ["900000000", "150"]


def test_concurrent_writers_on_two_services_all_land_in_one_unbroken_chain(services: ServiceFactory) -> None:
    first, second = services(conflict_retries=50), services(conflict_retries=50)
    first.sign(signing(), actor="a")

    def write(service: CommitmentService, actor: str) -> list[int]:
        return [service.allocate_funding(REF, funding("1.25"), actor=actor).version for _ in range(8)]

    with ThreadPoolExecutor(max_workers=2) as pool:
        versions = [*pool.submit(write, first, "a").result(), *pool.submit(write, second, "b").result()]
    assert sorted(versions) == list(range(2, 18))
    entries = list(second.history(REF))
    assert [e["version"] for e in entries] == list(range(1, 18))
    assert [e["prev_hash"] for e in entries] == [GENESIS_HASH] + [e["hash"] for e in entries[:-1]]
    assert first.show(REF)["funding"] == {"MAD": {"allocated": "20.00", "disbursed": "0"}}


def test_a_completion_dated_after_today_is_refused_even_when_its_effective_date_is_too(
        service: CommitmentService) -> None:
    service.sign(signing(), actor="official:mic")
    service.plan_milestone(REF, planning(), actor="official:mic")
    before = stored_rows(service)
    tomorrow = service.today() + timedelta(days=1)
    with pytest.raises(InvalidValue) as refused:
        service.complete_milestone(REF, "feasibility-study", c.CompleteMilestone(
            completed_on=tomorrow, evidence="not yet", effective_on=tomorrow), actor="official:oncf")
    assert str(refused.value) == f"a milestone cannot be completed on {tomorrow}, a day still to come"
    assert stored_rows(service) == before
    done = service.complete_milestone(REF, "feasibility-study", c.CompleteMilestone(
        completed_on=service.today(), evidence="delivered"), actor="official:oncf")
    assert done.version == 3
    assert service.show(REF)["milestones"][0]["status"] == "completed"
