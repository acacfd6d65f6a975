"""Wires the scheduler to the application: the views it reads, the events it appends, the channels it sends on."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping
from datetime import date

from app import commands as c
from app.ledger import sqlalchemy_url
from app.service import CommitmentService
from app.settings import Settings
from domain.agreement import Agreement
from domain.values import Recorded
from scheduler.channels import Channel, EmailChannel, LogChannel, RetryPolicy, SmtpConfig, WebhookChannel
from scheduler.ladder import Ladder, parse_ladder
from scheduler.leader import leader_lock
from scheduler.ports import AgreementContacts, Delivery, LeaderLock, OverdueSource, Recipient
from scheduler.runner import ReminderScheduler, SerialLock
from scheduler.sweep import SweepReport, sweep

SCHEDULER_ACTOR = "scheduler"
MAX_COMMAND_ID = 200
Action = Callable[[Agreement, Recorded], None]


class _AlreadyRecorded(Exception):
    """The agreement already holds this flag or reminder: the command must write nothing."""


class ServiceReminderWriter:
    """The sweep's writes, through the service, so they get its retry-on-conflict and the aggregate's rules.

    Each command's action decides inside the aggregate whether the fact is already there (raising
    `_AlreadyRecorded`) rather than leaving that to the service's command-id check, so the caller learns whether
    this call appended the event or a racing sweep had done it first. The events still carry a deterministic
    command id, so any other retry of the same command is a no-op too.
    """

    def __init__(self, service: CommitmentService, actor: str = SCHEDULER_ACTOR) -> None:
        self.service = service
        self.actor = actor

    def flag_overdue(self, ref: str, milestone_id: str, due_on: date, as_of: date) -> bool:
        command_id = f"flag:{milestone_id}:{due_on.isoformat()}"

        def flag(agreement: Agreement, recorded: Recorded) -> None:
            milestone = agreement.milestone(milestone_id)
            if agreement.version_of_command(command_id) is not None or agreement.is_flagged(milestone_id, due_on):
                raise _AlreadyRecorded
            if milestone.due_on != due_on or not agreement.is_overdue(milestone_id, as_of):
                raise _AlreadyRecorded  # The view lagged: completed, cancelled or rescheduled since.
            agreement.flag_overdue(milestone_id=milestone_id, as_of=as_of,
                                   recorded=dataclasses.replace(recorded, command_id=command_id))

        return self._run(ref, as_of, flag)

    def contacts(self, ref: str) -> AgreementContacts:
        agreement = self.service.agreement(ref)
        return AgreementContacts(agreement.lead_party, tuple(
            Recipient(contact.party, contact.channel, contact.address) for contact in agreement.contacts),
            active=agreement.status == "active")

    def was_reminded(self, ref: str, milestone_id: str, due_on: date, rung: str, recipient: str) -> bool:
        return self.service.agreement(ref).was_reminded(milestone_id, due_on, rung, recipient)

    def record_reminder(self, delivery: Delivery, as_of: date) -> bool:
        key = f"{delivery.milestone_id}:{delivery.due_on.isoformat()}:{delivery.rung}:{delivery.recipient}"
        # A delivered reminder is recorded once; a failed round at most once a day (the next sweep retries it).
        command_id = _command_id("remind", key) if delivery.outcome == "sent" else _command_id(
            "remind-failed", f"{key}:{as_of.isoformat()}")

        def record(agreement: Agreement, recorded: Recorded) -> None:
            if agreement.version_of_command(command_id) is not None or (
                    delivery.outcome == "sent" and agreement.was_reminded(
                        delivery.milestone_id, delivery.due_on, delivery.rung, delivery.recipient)):
                raise _AlreadyRecorded
            agreement.record_reminder(
                milestone_id=delivery.milestone_id, due_on=delivery.due_on, rung=delivery.rung,
                channel=delivery.channel, recipient=delivery.recipient, outcome=delivery.outcome,
                attempts=delivery.attempts, detail=delivery.detail[:500],
                recorded=dataclasses.replace(recorded, command_id=command_id))

        return self._run(delivery.agreement_ref, as_of, record)

    def _run(self, ref: str, as_of: date, action: Action) -> bool:
        meta = c.CommandMeta(effective_on=as_of, source=f"scheduler sweep as of {as_of.isoformat()}")
        try:
            self.service.execute(ref, meta, self.actor, action)
        except _AlreadyRecorded:
            return False
        return True


def _command_id(prefix: str, key: str) -> str:
    readable = f"{prefix}:{key}"
    if len(readable) <= MAX_COMMAND_ID:
        return readable
    return f"{prefix}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def overdue_source(service: CommitmentService) -> OverdueSource:
    """The projections' read models (issue 3), on the service's own ledger."""
    return service.views


def channels(settings: Settings) -> Mapping[str, Channel]:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    secret = settings.webhook_secret.get_secret_value().encode() if settings.webhook_secret else None
    return {
        "email": EmailChannel(SmtpConfig(settings.smtp_host, settings.smtp_port, settings.smtp_sender,
                                         settings.smtp_starttls, settings.smtp_user, password,
                                         settings.smtp_timeout_seconds, settings.smtp_ca_file)),
        "webhook": WebhookChannel(secret, settings.webhook_timeout_seconds),
        "log": LogChannel(),
    }


def ladder(settings: Settings) -> Ladder:
    return parse_ladder(settings.reminder_ladder)


def run_sweep(service: CommitmentService, settings: Settings, as_of: date, *, lock: LeaderLock | None,
              deliver: bool) -> SweepReport:
    """One sweep with everything taken from the settings."""
    return sweep(as_of, views=overdue_source(service), writer=ServiceReminderWriter(service),
                 channels=channels(settings), ladder=ladder(settings), max_reminders=settings.reminder_max_per_run,
                 retry=RetryPolicy(settings.reminder_max_attempts, settings.reminder_backoff_seconds),
                 lock=lock, deliver=deliver)


def sweep_once(service: CommitmentService, settings: Settings, as_of: date, lock_wait: float) -> SweepReport:
    """`scheduler sweep`: wait for the leader lock up to `lock_wait` seconds, then sweep.

    Without the lock (another scheduler is active) it still flags, which is safe anywhere, and leaves the
    reminders to the active scheduler.
    """
    ladder(settings)  # A bad ladder setting fails before anything is written.
    lock = leader_lock(sqlalchemy_url(settings.database_url))
    try:
        holding = lock.acquire(lock_wait)
        return run_sweep(service, settings, as_of, lock=lock if holding else None, deliver=holding)
    finally:
        lock.close()


def build_scheduler(service: CommitmentService, settings: Settings) -> ReminderScheduler:
    """The long-running scheduler for `scheduler run` and `serve`: sweeps `service.today()` while it leads."""
    ladder(settings)

    def sweep_today(lock: SerialLock) -> SweepReport:
        return run_sweep(service, settings, service.today(), lock=lock, deliver=True)

    return ReminderScheduler(
        sweep_today, jobstore_url=sqlalchemy_url(settings.database_url),
        lock=leader_lock(sqlalchemy_url(settings.database_url)), timezone=service.zone,
        interval_seconds=settings.scheduler_interval_seconds,
        standby_poll_seconds=settings.scheduler_standby_poll_seconds,
    )
