"""The views through the application service: exact rows for every kind of event, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date
from decimal import Decimal

import pytest
from eventsourcing.persistence import Tracking
from sqlalchemy import func, select

from app import commands as c
from app.presenters import agreement_summary
from app.readmodels import ReadModels
from app.reminders import sweep_once
from app.service import CommitmentService
from app.settings import Settings
from projections import tables as t
from projections.queries import OpenMilestone, OverdueMilestone
from tests.test_projections_support import bulk_history, dump_views, service_for
from tests.test_scheduler_support import scheduler_settings

AS_OF = date(2026, 11, 29)
NAME = {"ar": "ا", "fr": "n", "en": "n"}


@pytest.fixture
def service(database_url: str) -> Iterator[CommitmentService]:
    service = service_for(database_url, projection_batch_size=2)
    yield service
    service.close()


def scenario(service: CommitmentService, after_each_write: bool) -> None:
    """Every kind of fact the views care about, in two agreements; optionally catching up after each write."""
    def step(result: object) -> None:
        if after_each_write:
            service.views.catch_up()

    for ref, parties in (("a1", ("MIC", "ONCF")), ("a2", ("MIC", "CGEM"))):
        step(service.sign(c.SignAgreement(
            ref=ref, kind="convention", title=c.Trilingual(ar="ع", fr=f"{ref} fr", en=f"{ref} en"),
            parties=[c.PartyInput(short_name=p, role="lead" if i == 0 else "signatory", name=c.Trilingual(**NAME))
                     for i, p in enumerate(parties)],
            signed_on=date(2025, 11, 3), place="Rabat", occasion="test", starts_on=date(2025, 11, 3),
            ends_on=date(2028, 12, 31)), actor="tester"))
    s = service
    step(s.allocate_funding("a1", c.AllocateFunding(amount=Decimal("1000.10"), fund="F1", fiscal_years=[2026],
                                                    purpose="p"), actor="t"))
    step(s.allocate_funding("a1", c.AllocateFunding(amount=Decimal("250.05"), fund="F2", fiscal_years=[2027, 2026],
                                                    purpose="p"), actor="t"))
    step(s.correct_allocation("a1", c.CorrectAllocation(corrects_version=2, amount=Decimal("900.10"), reason="typo"),
                              actor="t"))
    step(s.disburse("a1", c.DisburseFunding(amount=Decimal("300.00"), value_date=date(2026, 3, 1), tranche="1"),
                    actor="t"))
    step(s.extend("a1", c.ExtendAgreement(ends_on=date(2029, 12, 31), instrument="annex 1", reason="more time"),
                  actor="t"))
    step(s.add_beneficiaries("a1", c.AddBeneficiaries(beneficiaries=["startups"], fund="F1"), actor="t"))
    for mid, due, who in (("m1", date(2026, 6, 30), "ONCF"), ("m2", date(2026, 9, 30), "MIC"),
                          ("m3", date(2026, 12, 31), "MIC"), ("m4", date(2026, 5, 1), "MIC")):
        step(s.plan_milestone("a1", c.PlanMilestone(milestone_id=mid, title=f"{mid} title", due_on=due,
                                                    responsible=who), actor="t"))
    step(s.report_progress("a1", "m1", c.ReportProgress(percent=40, note="half way"), actor="t"))
    step(s.correct_milestone("a1", "m1", c.CorrectMilestone(title="m1 corrected", responsible="ONCF", reason="typo"),
                             actor="t"))
    # Completed before its due date, but only recorded later (today's clock is after 2026-09-30).
    step(s.complete_milestone("a1", "m2", c.CompleteMilestone(completed_on=date(2026, 9, 20), evidence="report",
                                                              effective_on=date(2026, 9, 20)), actor="t"))
    step(s.reschedule_milestone("a1", "m3", c.RescheduleMilestone(due_on=date(2027, 3, 31), reason="late"), actor="t"))
    step(s.cancel_milestone("a1", "m4", c.CancelMilestone(reason="dropped"), actor="t"))
    step(s.add_contact("a1", c.AddContact(party="ONCF", channel="log", address="oncf"), actor="t"))
    step(s.plan_milestone("a2", c.PlanMilestone(milestone_id="x1", title="x1 title", due_on=date(2026, 1, 31),
                                                responsible="CGEM"), actor="t"))
    step(s.terminate("a2", c.CloseAgreement(on=date(2026, 2, 1), reason="ended"), actor="t"))


def test_views_hold_exactly_the_facts(service: CommitmentService) -> None:
    scenario(service, after_each_write=False)
    assert service.views.status() == [{"name": n, "position": 0, "lag": 20}
                                      for n in ("agreements", "milestones", "funding", "portfolio", "activity")]
    assert service.views.catch_up() == service.max_position() == 20
    assert service.views.catch_up() == 0
    views = service.views

    # Overdue: open milestones of active agreements only (a2 is terminated).
    assert views.overdue(AS_OF) == [OverdueMilestone("a1", "m1", "m1 corrected", date(2026, 6, 30), 152, "ONCF")]
    assert views.open_milestones(date(2026, 1, 1), date(2027, 12, 31)) == [
        OpenMilestone("a1", "m1", "m1 corrected", date(2026, 6, 30), "ONCF", "in_progress"),
        OpenMilestone("a1", "m3", "m3 title", date(2027, 3, 31), "MIC", "planned"),
    ]
    assert views.open_milestones(date(2026, 7, 1), date(2027, 3, 30)) == []

    # The list equals the summary built from each agreement, for several days.
    for today in (date(2026, 1, 1), AS_OF, date(2027, 6, 1)):
        assert views.list_agreements(today) == [agreement_summary(service.agreement(r), today) for r in ("a1", "a2")]
    assert views.list_agreements(AS_OF)[0]["allocated"] == {"MAD": "1150.15"}
    assert views.list_agreements(AS_OF)[0]["disbursed"] == {"MAD": "300.00"}

    m2 = next(m for m in views.milestones("a1") if m.milestone_id == "m2")
    assert (m2.status, m2.completed_on, m2.completed_on_time(), m2.reported_late(views.zone)) == (
        "completed", date(2026, 9, 20), True, True)

    assert views.funding() == [
        {"kind": "allocated", "fund": "F1", "fiscal_years": "2026", "currency": "MAD", "amount": "900.10"},
        {"kind": "allocated", "fund": "F2", "fiscal_years": "2026,2027", "currency": "MAD", "amount": "250.05"},
        {"kind": "disbursed", "year": 2026, "currency": "MAD", "amount": "300.00"},
    ]

    oncf = views.portfolio("ONCF", AS_OF)
    assert oncf is not None
    assert [(a["ref"], a["role"], a["status"], a["ends_on"]) for a in oncf["agreements"]] == [
        ("a1", "signatory", "active", "2029-12-31")]
    assert [(m["milestone_id"], m["overdue"]) for m in oncf["milestones"]] == [("m1", True)]
    assert (oncf["milestones_open"], oncf["overdue_count"]) == (1, 1)
    cgem = views.portfolio("CGEM", AS_OF)
    assert cgem is not None
    assert [(a["ref"], a["status"]) for a in cgem["agreements"]] == [("a2", "terminated")]
    assert cgem["overdue_count"] == 0
    assert views.portfolio("NOBODY", AS_OF) is None

    feed = views.activity(limit=1000)
    assert [row["position"] for row in feed] == list(range(20, 0, -1))
    assert feed[0]["type"] == "AgreementTerminated"
    assert [r["type"] for r in views.activity("a1", limit=3)] == ["ContactAdded", "MilestoneCancelled",
                                                                  "MilestoneRescheduled"]
    assert views.status() == [{"name": n, "position": 20, "lag": 0}
                              for n in ("agreements", "milestones", "funding", "portfolio", "activity")]


def test_catching_up_after_every_write_gives_the_rows_of_a_rebuild(service: CommitmentService) -> None:
    scenario(service, after_each_write=True)
    incremental = dump_views(service.views.engine)
    assert service.views.rebuild() == 20
    assert dump_views(service.views.engine) == incremental
    assert sum(len(rows) for rows in incremental.values()) == 37


def test_a_read_waits_for_its_own_write(database_url: str) -> None:
    writer = service_for(database_url)
    reader = ReadModels(Settings(database_url=database_url))
    try:
        scenario(writer, after_each_write=False)
        result = writer.plan_milestone("a1", c.PlanMilestone(milestone_id="m9", title="new", due_on=date(2026, 1, 1),
                                                             responsible="MIC"), actor="t")
        reader.wait_for(result.position, timeout=30)
        assert [m.milestone_id for m in reader.overdue(AS_OF)] == ["m9", "m1"]
        with pytest.raises(TimeoutError):
            reader.wait_for(result.position + 1, timeout=0.3)
    finally:
        reader.close()
        writer.close()


def test_two_runners_at_once_apply_every_event_once(database_url: str) -> None:
    settings = Settings(database_url=database_url, projection_batch_size=37)
    writer = CommitmentService(settings)
    runners = [ReadModels(settings), ReadModels(settings)]
    try:
        totals = bulk_history(writer, agreements=12, events_each=40)
        last = writer.max_position()
        threads = [threading.Thread(target=r.catch_up) for r in runners]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        with runners[0].engine.connect() as conn:
            positions = conn.execute(select(t.activity.c.position).order_by(t.activity.c.position)).scalars().all()
            disbursed = conn.execute(select(t.agreement_funding.c.disbursed)).scalars().all()
            count = conn.execute(select(func.count()).select_from(t.funding_disbursements)).scalar()
        assert positions == list(range(1, last + 1))
        assert sum((Decimal(d) for d in disbursed), Decimal(0)) == totals["disbursed"]
        assert count is not None
        assert count > 0
        together = dump_views(runners[0].engine)
        runners[1].rebuild()
        assert dump_views(runners[0].engine) == together
    finally:
        for r in runners:
            r.close()
        writer.close()


def test_a_rebuild_while_another_runner_catches_up_skips_nothing(database_url: str) -> None:
    settings = Settings(database_url=database_url, projection_batch_size=13)
    writer = CommitmentService(settings)
    tailing, rebuilding = ReadModels(settings), ReadModels(settings)
    try:
        bulk_history(writer, agreements=10, events_each=40, seed=5)
        last = writer.max_position()

        def tail() -> None:
            for _ in range(15):
                tailing.catch_up()

        thread = threading.Thread(target=tail)
        thread.start()
        rebuilding.rebuild()
        rebuilding.rebuild()
        thread.join()
        tailing.catch_up()
        with tailing.engine.connect() as conn:
            positions = conn.execute(select(t.activity.c.position).order_by(t.activity.c.position)).scalars().all()
        assert positions == list(range(1, last + 1))
        assert tailing.status() == [{"name": n, "position": last, "lag": 0}
                                    for n in ("agreements", "milestones", "funding", "portfolio", "activity")]
        concurrent = dump_views(tailing.engine)
        rebuilding.rebuild()
        assert dump_views(tailing.engine) == concurrent
    finally:
        tailing.close()
        rebuilding.close()
        writer.close()


def test_a_view_reset_under_a_runner_takes_no_batch_that_would_skip_events(database_url: str) -> None:
    settings = Settings(database_url=database_url)
    writer = CommitmentService(settings)
    views = ReadModels(settings)
    try:
        bulk_history(writer, agreements=2, events_each=20, seed=6)
        views.catch_up(stop=26)
        batch = [views.runner._project(n) for n in views.ledger.recorder.select_notifications(27, 13)]
        milestones = views.views[1]
        milestones.reset()  # as a rebuild in another process would, between our read of 26 and our write
        assert milestones.process(batch, Tracking(views.ledger.name, 39), since=26) == 0
        assert milestones.max_tracking_id(views.ledger.name) is None
        assert [s["position"] for s in views.status()] == [26, 0, 26, 26, 26]
        assert views.catch_up() == 40
        caught_up = dump_views(views.engine)
        views.rebuild()
        assert dump_views(views.engine) == caught_up
    finally:
        views.close()
        writer.close()


def later_facts(service: CommitmentService, database_url: str) -> None:
    """After the scenario: overdue flags and reminders from a sweep, then more changes to the same rows, and a1 closed
    (which closes each of its milestones), so one batch can hold a row's creation and several changes to it."""
    s = service
    s.add_contact("a1", c.AddContact(party="MIC", channel="log", address="mic"), actor="t")
    report = sweep_once(service, scheduler_settings(database_url), AS_OF, lock_wait=5).as_dict()
    assert (len(report["flagged"]), len(report["reminders"])) == (1, 1)
    s.report_progress("a1", "m1", c.ReportProgress(percent=70, note="more"), actor="t")
    s.plan_milestone("a1", c.PlanMilestone(milestone_id="m5", title="m5", due_on=date(2026, 10, 1),
                                           responsible="MIC"), actor="t")
    s.reschedule_milestone("a1", "m5", c.RescheduleMilestone(due_on=date(2027, 1, 31), reason="later"), actor="t")
    s.report_progress("a1", "m5", c.ReportProgress(percent=10, note="started"), actor="t")
    s.allocate_funding("a1", c.AllocateFunding(amount=Decimal("5.00"), currency="EUR", fund="F3", fiscal_years=[2026],
                                               purpose="p"), actor="t")
    s.correct_allocation("a1", c.CorrectAllocation(corrects_version=s.agreement("a1").version, amount=Decimal("4.50"),
                                                   reason="typo"), actor="t")
    s.disburse("a1", c.DisburseFunding(amount=Decimal("4.50"), currency="EUR", value_date=date(2026, 4, 1),
                                       tranche="1"), actor="t")
    s.add_contact("a1", c.AddContact(party="ONCF", channel="log", address="oncf-2"), actor="t")
    s.complete("a1", c.CloseAgreement(on=date(2026, 11, 1), reason="done"), actor="t")


@pytest.mark.parametrize("batch_size", [3, 8, 1000])
def test_any_batch_size_gives_the_rows_of_one_event_at_a_time(database_url: str, batch_size: int) -> None:
    # Views fold a batch's events into each row in memory and write each row once: a batch of one event at a time is
    # the plain, statement-per-event meaning, and every larger batch must end with exactly the same rows.
    service = service_for(database_url, projection_batch_size=1)
    try:
        scenario(service, after_each_write=False)
        later_facts(service, database_url)
        service.views.catch_up()
        one_at_a_time = dump_views(service.views.engine)
        types = {row[4] for row in one_at_a_time[t.activity.name]}
        assert {"MilestoneFlaggedOverdue", "ReminderSent", "FundingAllocationCorrected", "AgreementCompleted"} <= types
        names = [column.name for column in t.milestones.columns]
        milestones = {row[1]: dict(zip(names, row, strict=True)) for row in one_at_a_time[t.milestones.name]}
        assert [(m["status"], m["agreement_status"], m["is_open"], m["percent"], m["times_rescheduled"])
                for m in (milestones["m1"], milestones["m5"])] == [("in_progress", "completed", False, 70, 0),
                                                                   ("in_progress", "completed", False, 10, 1)]
        assert milestones["m1"]["reminders_sent"] > 0
        service.views.runner.batch_size = batch_size
        assert service.views.rebuild() == service.max_position()
        assert dump_views(service.views.engine) == one_at_a_time
    finally:
        service.close()
