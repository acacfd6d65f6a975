"""The sweep: flag what is overdue on a day, then walk the reminder ladder. A plain function; time is passed in."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from scheduler.channels import Attempted, Channel, ReminderMessage, RetryPolicy, deliver_with_retry, endpoint
from scheduler.ladder import Ladder
from scheduler.ports import AgreementContacts, Delivery, DueMilestone, LeaderLock, OverdueSource, ReminderWriter

log = logging.getLogger("commitments.scheduler")
DEFAULT_RETRY = RetryPolicy()


@dataclass(frozen=True)
class Flagged:
    agreement_ref: str
    milestone_id: str
    due_on: date


@dataclass
class SweepReport:
    """What one sweep did. `flagged` and `reminders` hold only what this sweep itself recorded."""

    as_of: date
    delivering: bool
    caught_up: int = 0
    flagged: list[Flagged] = field(default_factory=list)
    already_flagged: int = 0
    reminders: list[Delivery] = field(default_factory=list)
    already_reminded: int = 0
    unreachable: list[str] = field(default_factory=list)
    deferred: int = 0
    duplicates: int = 0
    lock_lost: bool = False

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SweepConfig:
    """How reminders go out: the ladder, the channels by name, the cap per run and the retry policy."""

    ladder: Ladder
    channels: Mapping[str, Channel]
    max_reminders: int = 100
    retry: RetryPolicy = DEFAULT_RETRY


def sweep(as_of: date, *, views: OverdueSource, writer: ReminderWriter, channels: Mapping[str, Channel],
          ladder: Ladder, max_reminders: int = 100, retry: RetryPolicy = DEFAULT_RETRY,
          lock: LeaderLock | None = None, deliver: bool = True,
          sleep: Callable[[float], None] = time.sleep) -> SweepReport:
    """Flag every milestone overdue on `as_of` (once per due date), then send the reminders that have come due.

    Flags are safe without any lock: the agreement refuses a second flag for the same due date. Deliveries are
    made only with `deliver=True`, which the callers pass only while they hold the leader lock (see
    notes/scheduler.md for the one window that remains).
    """
    config = SweepConfig(ladder, channels, max_reminders, retry)
    report = SweepReport(as_of=as_of, delivering=deliver)
    report.caught_up = views.catch_up()
    overdue = list(views.overdue(as_of))
    for milestone in overdue:
        if writer.flag_overdue(milestone.agreement_ref, milestone.milestone_id, milestone.due_on, as_of):
            report.flagged.append(Flagged(milestone.agreement_ref, milestone.milestone_id, milestone.due_on))
        else:
            report.already_flagged += 1
    if deliver:
        _walk_ladder(as_of, _ladder_candidates(as_of, views, config.ladder, overdue), writer, config, lock,
                     report, sleep)
    return report


def _ladder_candidates(as_of: date, views: OverdueSource, ladder: Ladder,
                       overdue: list[DueMilestone]) -> list[DueMilestone]:
    candidates: list[DueMilestone] = list(overdue) if ladder.reaches_overdue else []
    if ladder.lookahead_days >= 0:
        candidates += views.open_milestones(as_of, as_of + timedelta(days=ladder.lookahead_days))
    return sorted(candidates, key=lambda m: (m.due_on, m.agreement_ref, m.milestone_id))


def _walk_ladder(as_of: date, candidates: list[DueMilestone], writer: ReminderWriter, config: SweepConfig,
                 lock: LeaderLock | None, report: SweepReport, sleep: Callable[[float], None]) -> None:
    contacts: dict[str, AgreementContacts] = {}
    down: set[str] = set()
    for milestone in candidates:
        rung = config.ladder.current(milestone.due_on, as_of)
        if rung is None:
            continue
        ref = milestone.agreement_ref
        if ref not in contacts:
            contacts[ref] = writer.contacts(ref)
        if not contacts[ref].active:
            continue
        party = contacts[ref].lead_party if rung.audience == "lead" else milestone.responsible
        recipients = contacts[ref].of(party)
        if not recipients:
            report.unreachable.append(f"{ref}/{milestone.milestone_id}: {party} has no contact for {rung.name}")
        for recipient in recipients:
            if writer.was_reminded(ref, milestone.milestone_id, milestone.due_on, rung.name, recipient.address):
                report.already_reminded += 1
                continue
            if (len(report.reminders) + report.duplicates >= config.max_reminders
                    or endpoint(recipient.channel, recipient.address) in down):
                report.deferred += 1
                continue
            if lock is not None and not lock.held():
                # Leadership was lost mid-sweep (e.g. the PostgreSQL session holding it dropped). Stop sending.
                report.lock_lost = True
                log.error("the scheduler lock was lost during the sweep of %s; reminders stop here", as_of)
                return
            message = ReminderMessage(ref, milestone.milestone_id, milestone.title, milestone.due_on, rung.name,
                                      as_of, recipient.address)
            if _send(message, recipient.channel, writer, config, report, sleep).exhausted:
                # Bound the time a dead server costs: the rest of its reminders wait for the next sweep.
                down.add(endpoint(recipient.channel, recipient.address))


def _send(message: ReminderMessage, channel_name: str, writer: ReminderWriter, config: SweepConfig,
          report: SweepReport, sleep: Callable[[float], None]) -> Attempted:
    channel = config.channels.get(channel_name)
    if channel is None:
        attempted = Attempted("failed", 0, f"no {channel_name} channel is configured")
    else:
        attempted = deliver_with_retry(channel, message, message.recipient, config.retry, sleep)
    delivery = Delivery(message.agreement_ref, message.milestone_id, message.due_on, message.rung, channel_name,
                        message.recipient, attempted.outcome, attempted.attempts, attempted.detail)
    if writer.record_reminder(delivery, message.as_of) or attempted.outcome == "failed":
        report.reminders.append(delivery)
    else:
        # Delivered, but another sweep recorded the same reminder first: the residual window, made visible.
        report.duplicates += 1
        log.warning("reminder %s was delivered twice (another sweep recorded it first)", message.key)
    return attempted
