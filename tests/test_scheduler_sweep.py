"""The sweep through the service, on a real SQLite file and a real PostgreSQL database, with real SMTP and HTTP
servers on loopback: overdue flags once per due date, the reminder ladder, channels, retries and the cap."""

from __future__ import annotations

import json
import shutil
import ssl
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from app import commands as c
from app.ledger import sqlalchemy_url
from app.reminders import sweep_once
from app.service import CommitmentService
from app.settings import Settings
from scheduler.leader import leader_lock
from tests.test_scheduler_support import (
    WEBHOOK_SECRET,
    add_contact,
    event_types,
    free_port,
    reminders,
    scheduler_settings,
    self_signed_certificate,
    sign_with_milestones,
    smtp_server,
    webhook_server,
)

AS_OF = date(2026, 11, 29)
REF = "sweep-test"


@pytest.fixture
def service(database_url: str) -> Iterator[CommitmentService]:
    service = CommitmentService(Settings(database_url=database_url))
    yield service
    service.close()


def sweep(service: CommitmentService, settings: Settings, as_of: date = AS_OF) -> dict[str, Any]:
    return sweep_once(service, settings, as_of, lock_wait=5).as_dict()


def flags(service: CommitmentService, ref: str = REF) -> list[tuple[str, str, str]]:
    return [(e["data"]["milestone_id"], e["data"]["due_on"], e["data"]["as_of"])
            for e in service.history(ref) if e["type"] == "MilestoneFlaggedOverdue"]


def test_each_overdue_milestone_is_flagged_once_per_due_date(service: CommitmentService, database_url: str) -> None:
    sign_with_milestones(service, REF, {"late": (date(2026, 6, 30), "PARTNER"), "due-today": (AS_OF, "PARTNER"),
                                        "just-late": (AS_OF - timedelta(days=1), "PARTNER")})
    settings = scheduler_settings(database_url)

    first = sweep(service, settings)
    second = sweep(service, settings, AS_OF + timedelta(days=3))

    assert first["flagged"] == [
        {"agreement_ref": REF, "milestone_id": "late", "due_on": date(2026, 6, 30)},
        {"agreement_ref": REF, "milestone_id": "just-late", "due_on": date(2026, 11, 28)},
    ]
    assert first["already_flagged"] == 0
    assert second["flagged"] == [{"agreement_ref": REF, "milestone_id": "due-today", "due_on": AS_OF}]
    assert second["already_flagged"] == 2
    assert flags(service) == [("late", "2026-06-30", "2026-11-29"), ("just-late", "2026-11-28", "2026-11-29"),
                              ("due-today", "2026-11-29", "2026-12-02")]


def test_a_rescheduled_milestone_is_flagged_again_for_its_new_date(service: CommitmentService,
                                                                  database_url: str) -> None:
    sign_with_milestones(service, REF, {"study": (date(2026, 6, 30), "PARTNER")})
    settings = scheduler_settings(database_url)
    sweep(service, settings, date(2026, 7, 5))
    service.reschedule_milestone(REF, "study", c.RescheduleMilestone(
        due_on=date(2026, 8, 31), reason="consultant appointed late", effective_on=date(2026, 7, 6)), actor="test")

    before_new_date = sweep(service, settings, date(2026, 8, 31))
    after_new_date = sweep(service, settings, date(2026, 9, 1))
    again = sweep(service, settings, date(2026, 9, 2))

    assert before_new_date["flagged"] == []
    assert after_new_date["flagged"] == [{"agreement_ref": REF, "milestone_id": "study", "due_on": date(2026, 8, 31)}]
    assert again["flagged"] == []
    assert flags(service) == [("study", "2026-06-30", "2026-07-05"), ("study", "2026-08-31", "2026-09-01")]


def test_a_back_dated_completion_before_the_due_date_is_not_overdue(service: CommitmentService,
                                                                    database_url: str) -> None:
    sign_with_milestones(service, REF, {"study": (date(2026, 6, 30), "PARTNER"),
                                        "site": (date(2026, 9, 30), "PARTNER")})
    # Reported on 2026-11-29 (late), but it was done on 2026-06-20 (on time).
    service.complete_milestone(REF, "study", c.CompleteMilestone(
        completed_on=date(2026, 6, 20), evidence="report no. 12", effective_on=date(2026, 6, 20)), actor="test")

    report = sweep(service, scheduler_settings(database_url))

    assert report["flagged"] == [{"agreement_ref": REF, "milestone_id": "site", "due_on": date(2026, 9, 30)}]
    assert flags(service) == [("site", "2026-09-30", "2026-11-29")]


def test_the_ladder_sends_each_rung_once_to_the_responsible_party_and_escalates_to_the_lead(
        service: CommitmentService, database_url: str) -> None:
    sign_with_milestones(service, REF, {
        "in-3-days": (AS_OF + timedelta(days=3), "PARTNER"), "in-14-days": (AS_OF + timedelta(days=14), "PARTNER"),
        "in-20-days": (AS_OF + timedelta(days=20), "PARTNER"), "late": (AS_OF - timedelta(days=1), "PARTNER"),
        "long-late": (AS_OF - timedelta(days=31), "PARTNER"),
    })
    add_contact(service, REF, "PARTNER", "email", "partner@example.ma")
    add_contact(service, REF, "LEAD", "email", "lead@example.ma")
    with smtp_server() as (mailbox, port):
        settings = scheduler_settings(database_url, port)
        first = sweep(service, settings)
        same_day = sweep(service, settings)
        next_day = sweep(service, settings, AS_OF + timedelta(days=1))
        received = mailbox.received()
        headers = [(m["Message-ID"], m["X-Commitments-Reminder"]) for m in mailbox.messages]

    assert received == [
        ("lead@example.ma", "[commitments] sweep-test: long-late overdue since 2026-10-29"),
        ("partner@example.ma", "[commitments] sweep-test: late overdue since 2026-11-28"),
        ("partner@example.ma", "[commitments] sweep-test: in-3-days due on 2026-12-02"),
        ("partner@example.ma", "[commitments] sweep-test: in-14-days due on 2026-12-13"),
    ]
    assert [(r["data"]["milestone_id"], r["data"]["rung"], r["data"]["channel"], r["data"]["recipient"],
             r["data"]["outcome"], r["data"]["attempts"]) for r in reminders(service, REF)] == [
        ("long-late", "escalation-30d", "email", "lead@example.ma", "sent", 1),
        ("late", "overdue-1d", "email", "partner@example.ma", "sent", 1),
        ("in-3-days", "due-in-3d", "email", "partner@example.ma", "sent", 1),
        ("in-14-days", "due-in-14d", "email", "partner@example.ma", "sent", 1),
    ]
    assert all(message_id and key for message_id, key in headers)
    assert headers[0][1] == "sweep-test/long-late/2026-10-29/escalation-30d/lead@example.ma"
    assert (len(first["reminders"]), first["already_reminded"]) == (4, 0)
    assert (same_day["reminders"], same_day["already_reminded"]) == ([], 4)
    assert (next_day["reminders"], next_day["already_reminded"]) == ([], 4)


def test_the_cap_defers_reminders_to_the_next_sweep(service: CommitmentService, database_url: str) -> None:
    sign_with_milestones(service, REF, {f"m{i}": (AS_OF - timedelta(days=i), "PARTNER") for i in range(1, 4)})
    add_contact(service, REF, "PARTNER", "log", "partner-desk")
    settings = scheduler_settings(database_url, reminder_max_per_run=2)

    first = sweep(service, settings)
    second = sweep(service, settings)

    assert [(r["milestone_id"], r["outcome"]) for r in first["reminders"]] == [("m3", "sent"), ("m2", "sent")]
    assert first["deferred"] == 1
    assert [(r["milestone_id"], r["outcome"]) for r in second["reminders"]] == [("m1", "sent")]
    assert second["deferred"] == 0
    assert [r["data"]["milestone_id"] for r in reminders(service, REF)] == ["m3", "m2", "m1"]


def test_smtp_refuses_then_accepts_the_reminder_is_retried_and_recorded_once(service: CommitmentService,
                                                                            database_url: str) -> None:
    sign_with_milestones(service, REF, {"late": (AS_OF - timedelta(days=1), "PARTNER")})
    add_contact(service, REF, "PARTNER", "email", "partner@example.ma")
    with smtp_server(refuse_first=1) as (mailbox, port):
        sweep(service, scheduler_settings(database_url, port))
        received, refused = mailbox.received(), mailbox.refused

    assert refused == 1
    assert received == [("partner@example.ma", "[commitments] sweep-test: late overdue since 2026-11-28")]
    assert [(r["data"]["outcome"], r["data"]["attempts"]) for r in reminders(service, REF)] == [("sent", 2)]


def test_a_failed_delivery_is_recorded_once_a_day_and_retried_by_the_next_sweep(service: CommitmentService,
                                                                               database_url: str) -> None:
    sign_with_milestones(service, REF, {"late": (AS_OF - timedelta(days=1), "PARTNER")})
    add_contact(service, REF, "PARTNER", "email", "partner@example.ma")
    down = scheduler_settings(database_url, free_port(), reminder_max_attempts=2)
    sweep(service, down)
    sweep(service, down)  # Fails again the same day: still one failure on record.
    with smtp_server() as (mailbox, port):
        sweep(service, scheduler_settings(database_url, port))
        sweep(service, scheduler_settings(database_url, port))
        received = mailbox.received()

    recorded = [(r["data"]["outcome"], r["data"]["attempts"]) for r in reminders(service, REF)]
    assert recorded == [("failed", 2), ("sent", 1)]
    assert "refused" in reminders(service, REF)[0]["data"]["detail"].lower()
    assert received == [("partner@example.ma", "[commitments] sweep-test: late overdue since 2026-11-28")]


def test_the_webhook_is_signed_with_hmac_sha256(service: CommitmentService, database_url: str) -> None:
    sign_with_milestones(service, REF, {"late": (AS_OF - timedelta(days=1), "PARTNER")})
    with webhook_server() as (inbox, url):
        add_contact(service, REF, "PARTNER", "webhook", url)
        sweep(service, scheduler_settings(database_url))
        sweep(service, scheduler_settings(database_url))
        requests = list(inbox.requests)

    assert len(requests) == 1
    body, valid = requests[0]
    assert valid
    assert json.loads(body) == {
        "agreement_ref": REF, "milestone_id": "late", "title": "Deliver late", "due_on": "2026-11-28",
        "as_of": "2026-11-29", "rung": "overdue-1d", "recipient": url,
        "reminder": f"{REF}/late/2026-11-28/overdue-1d/{url}",
    }
    assert [(r["data"]["channel"], r["data"]["outcome"], r["data"]["detail"]) for r in reminders(service, REF)] == [
        ("webhook", "sent", "webhook answered 204")]


def test_a_webhook_that_rejects_the_signature_is_recorded_failed_without_retries(service: CommitmentService,
                                                                                database_url: str) -> None:
    sign_with_milestones(service, REF, {"late": (AS_OF - timedelta(days=1), "PARTNER")})
    with webhook_server(secret="another-secret-entirely") as (inbox, url):
        add_contact(service, REF, "PARTNER", "webhook", url)
        sweep(service, scheduler_settings(database_url))
        requests = list(inbox.requests)

    assert [valid for _, valid in requests] == [False]
    assert [(r["data"]["outcome"], r["data"]["attempts"], r["data"]["detail"]) for r in reminders(service, REF)] == [
        ("failed", 1, f"webhook {url} answered 401")]
    assert WEBHOOK_SECRET != "another-secret-entirely"


def test_without_the_leader_lock_a_sweep_flags_but_leaves_reminders_to_the_leader(service: CommitmentService,
                                                                                 database_url: str) -> None:
    sign_with_milestones(service, REF, {"late": (AS_OF - timedelta(days=1), "PARTNER")})
    add_contact(service, REF, "PARTNER", "log", "partner-desk")
    settings = scheduler_settings(database_url)
    leader = leader_lock(sqlalchemy_url(database_url))
    assert leader.acquire()
    try:
        follower = sweep_once(service, settings, AS_OF, lock_wait=0.3).as_dict()
    finally:
        leader.close()
    after = sweep(service, settings)

    assert (follower["delivering"], len(follower["flagged"]), follower["reminders"]) == (False, 1, [])
    assert (after["delivering"], len(after["flagged"]), len(after["reminders"])) == (True, 0, 1)
    assert event_types(service, REF).count("ReminderSent") == 1


def test_a_terminated_agreement_is_neither_flagged_nor_chased(service: CommitmentService, database_url: str) -> None:
    sign_with_milestones(service, REF, {"late": (AS_OF - timedelta(days=1), "PARTNER"),
                                        "soon": (AS_OF + timedelta(days=3), "PARTNER")})
    add_contact(service, REF, "PARTNER", "log", "partner-desk")
    service.terminate(REF, c.CloseAgreement(on=date(2026, 11, 1), reason="superseded",
                                            effective_on=date(2026, 11, 1)), actor="test")
    before = event_types(service, REF)

    report = sweep(service, scheduler_settings(database_url))

    assert (report["flagged"], report["reminders"], report["unreachable"]) == ([], [], [])
    assert event_types(service, REF) == before


def late_reminder_over_tls(sqlite_url: str, tmp_path: Path) -> tuple[CommitmentService, Path, ssl.SSLContext]:
    """A service with one milestone a day late and its party's email contact; a self-signed certificate, and the
    server's TLS context that presents it (the client trusts it only if given the certificate file)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    service = CommitmentService(Settings(database_url=sqlite_url))
    sign_with_milestones(service, REF, {"late": (AS_OF - timedelta(days=1), "PARTNER")})
    add_contact(service, REF, "PARTNER", "email", "partner@example.ma")
    cert, key = self_signed_certificate(tmp_path)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    tls.load_cert_chain(cert, key)
    return service, cert, tls


def test_starttls_verifies_the_server_certificate(sqlite_url: str, tmp_path: Path) -> None:
    service, cert, tls = late_reminder_over_tls(sqlite_url, tmp_path)
    with smtp_server(tls=tls) as (mailbox, port):
        untrusted = sweep(service, scheduler_settings(sqlite_url, port, smtp_starttls=True, reminder_max_attempts=1))
        trusted = sweep(service, scheduler_settings(sqlite_url, port, smtp_starttls=True, smtp_ca_file=str(cert)))
        received = mailbox.received()
    service.close()

    assert [(r["outcome"], "CERTIFICATE_VERIFY_FAILED" in r["detail"]) for r in untrusted["reminders"]] == [
        ("failed", True)]
    assert [(r["outcome"], r["attempts"]) for r in trusted["reminders"]] == [("sent", 1)]
    assert received == [("partner@example.ma", "[commitments] sweep-test: late overdue since 2026-11-28")]


def test_smtp_login_after_starttls_a_wrong_password_is_a_permanent_failure(sqlite_url: str, tmp_path: Path) -> None:
    service, cert, tls = late_reminder_over_tls(sqlite_url, tmp_path)
    settings = {"smtp_starttls": True, "smtp_ca_file": str(cert), "smtp_user": "reminders"}
    with smtp_server(tls=tls, logins={"reminders": "s3cret"}) as (mailbox, port):
        wrong = sweep(service, scheduler_settings(sqlite_url, port, smtp_password="guess", reminder_max_attempts=3,
                                                  **settings))
        right = sweep(service, scheduler_settings(sqlite_url, port, smtp_password="s3cret", **settings))
        received = mailbox.received()
    service.close()

    # A refused login is not retried within the sweep (the password will not change by itself)...
    assert [(r["outcome"], r["attempts"], r["detail"]) for r in wrong["reminders"]] == [
        ("failed", 1, "SMTP login refused: 535")]
    # ...and the next sweep, with the right password, delivers it once.
    assert [(r["outcome"], r["attempts"]) for r in right["reminders"]] == [("sent", 1)]
    # smtplib tries each mechanism the server offers (PLAIN, then LOGIN) before giving up on a password.
    assert mailbox.logins == [("reminders", False), ("reminders", False), ("reminders", True)]
    assert received == [("partner@example.ma", "[commitments] sweep-test: late overdue since 2026-11-28")]


def test_a_dead_smtp_server_costs_one_delivery_per_sweep_the_rest_wait(service: CommitmentService,
                                                                       database_url: str) -> None:
    sign_with_milestones(service, REF, {"a": (AS_OF - timedelta(days=2), "PARTNER"),
                                        "b": (AS_OF - timedelta(days=1), "PARTNER")})
    add_contact(service, REF, "PARTNER", "email", "partner@example.ma")
    add_contact(service, REF, "PARTNER", "log", "partner-desk")

    down = sweep(service, scheduler_settings(database_url, free_port(), reminder_max_attempts=2))
    with smtp_server() as (mailbox, port):
        up = sweep(service, scheduler_settings(database_url, port))
        received = mailbox.received()

    assert [(r["milestone_id"], r["channel"], r["outcome"]) for r in down["reminders"]] == [
        ("a", "email", "failed"), ("a", "log", "sent"), ("b", "log", "sent")]
    assert down["deferred"] == 1
    assert [(r["milestone_id"], r["channel"], r["outcome"]) for r in up["reminders"]] == [
        ("a", "email", "sent"), ("b", "email", "sent")]
    assert len(received) == 2
