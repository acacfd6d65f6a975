"""The APScheduler wiring, in process, on SQLite and PostgreSQL: a sweep at start-up catches up after downtime,
the job store keeps one job, and only one scheduler is active at a time."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, text

from app.ledger import sqlalchemy_url
from app.reminders import build_scheduler
from app.service import CommitmentService
from app.settings import Settings
from scheduler.runner import JOB_ID, JOBS_TABLE, ReminderScheduler
from tests.test_scheduler_support import add_contact, reminders, scheduler_settings, sign_with_milestones, smtp_server

ZONE = ZoneInfo("Africa/Casablanca")
REF = "runner-test"
DUE = date(2026, 12, 1)


def clock(day: date) -> Callable[[], datetime]:
    return lambda: datetime(day.year, day.month, day.day, 9, 0, tzinfo=ZONE)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for the scheduler")
        time.sleep(0.1)


@pytest.fixture
def settings(database_url: str) -> Settings:
    service = CommitmentService(Settings(database_url=database_url))
    sign_with_milestones(service, REF, {"delivery": (DUE, "PARTNER")})
    add_contact(service, REF, "PARTNER", "email", "partner@example.ma")
    service.close()
    return scheduler_settings(database_url, scheduler_standby_poll_seconds=0.2)


def run_once_on(day: date, settings: Settings) -> ReminderScheduler:
    """Start a scheduler whose clock says `day`, wait for its start-up sweep, stop it."""
    service = CommitmentService(settings, clock=clock(day))
    scheduler = build_scheduler(service, settings)
    scheduler.start()
    try:
        assert scheduler.is_leader
        wait_until(lambda: scheduler.last_sweep is not None)
    finally:
        scheduler.shutdown()
        service.close()
    return scheduler


def test_a_scheduler_stopped_across_the_due_date_sends_the_reminder_on_start(settings: Settings) -> None:
    with smtp_server() as (mailbox, port):
        settings = settings.model_copy(update={"smtp_port": port})
        before = run_once_on(date(2026, 11, 30), settings)
        # Down over 1 December, the due date; started again on the 3rd.
        after = run_once_on(date(2026, 12, 3), settings)
        received = mailbox.received()

    assert received == [
        ("partner@example.ma", "[commitments] runner-test: delivery due on 2026-12-01"),
        ("partner@example.ma", "[commitments] runner-test: delivery overdue since 2026-12-01"),
    ]
    assert before.last_report is not None
    assert after.last_report is not None
    assert [r.rung for r in before.last_report.reminders] == ["due-in-3d"]
    assert [r.rung for r in after.last_report.reminders] == ["overdue-1d"]
    assert [f.milestone_id for f in after.last_report.flagged] == ["delivery"]
    service = CommitmentService(settings)
    try:
        assert [(r["data"]["rung"], r["data"]["outcome"]) for r in reminders(service, REF)] == [
            ("due-in-3d", "sent"), ("overdue-1d", "sent")]
    finally:
        service.close()
    engine = create_engine(sqlalchemy_url(settings.database_url))
    with engine.connect() as connection:
        jobs = connection.execute(text(f"SELECT id FROM {JOBS_TABLE}")).scalars().all()
    engine.dispose()
    assert jobs == [JOB_ID]


def test_one_scheduler_is_active_and_another_takes_over_when_it_stops(settings: Settings) -> None:
    with smtp_server() as (mailbox, port):
        settings = settings.model_copy(update={"smtp_port": port})
        services = [CommitmentService(settings, clock=clock(date(2026, 12, 3))) for _ in range(2)]
        first, second = (build_scheduler(s, settings) for s in services)
        try:
            first.start()
            second.start()
            wait_until(lambda: first.last_sweep is not None)
            assert (first.is_leader, second.is_leader) == (True, False)
            assert second.last_sweep is None
            first.shutdown()
            wait_until(lambda: second.last_sweep is not None)
            assert second.is_leader
        finally:
            first.shutdown()
            second.shutdown()
            for service in services:
                service.close()
        received = mailbox.received()

    assert received == [("partner@example.ma", "[commitments] runner-test: delivery overdue since 2026-12-01")]
    assert second.last_report is not None
    assert (second.last_report.reminders, second.last_report.already_reminded) == ([], 1)


def test_a_scheduler_whose_lock_connection_drops_steps_down_and_takes_the_lock_again(postgres_url: str) -> None:
    service = CommitmentService(Settings(database_url=postgres_url), clock=clock(date(2026, 12, 3)))
    sign_with_milestones(service, REF, {"delivery": (DUE, "PARTNER")})
    add_contact(service, REF, "PARTNER", "email", "partner@example.ma")
    with smtp_server() as (mailbox, port):
        settings = scheduler_settings(postgres_url, port, scheduler_standby_poll_seconds=0.2)
        scheduler = build_scheduler(service, settings)
        scheduler.start()
        try:
            wait_until(lambda: scheduler.last_sweep is not None)
            first_sweep = scheduler.last_sweep
            engine = create_engine(sqlalchemy_url(postgres_url))
            with engine.connect() as connection:
                killed = connection.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database "
                    "WHERE datname = current_database())")).scalar_one()
            engine.dispose()
            # It notices, stands down, takes the lock on a new connection and sweeps again at start-up.
            wait_until(lambda: scheduler.last_sweep != first_sweep)
            assert scheduler.is_leader
        finally:
            scheduler.shutdown()
            service.close()
        received = mailbox.received()

    assert killed == 1
    assert received == [("partner@example.ma", "[commitments] runner-test: delivery overdue since 2026-12-01")]
    assert scheduler.last_report is not None
    assert scheduler.last_report.already_reminded == 1
