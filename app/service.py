"""The application service: one method per use case, shared by the CLI, the HTTP API and the web UI."""

from __future__ import annotations

import functools
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import RecordConflictError

from app import commands as c
from app.errors import AgreementExists, AgreementNotFound, ConcurrencyConflict, StaleVersion
from app.ledger import AgreementLedger, parse_database_url, replay
from app.presenters import agreement_state, history_entry
from app.readmodels import ReadModels
from app.settings import Settings
from domain.agreement import Agreement
from domain.agreement import agreement_id as uuid_of_ref
from domain.errors import DomainError, InvalidValue
from domain.timetravel import as_effective_on, as_recorded_before
from domain.values import Recorded

Clock = Callable[[], datetime]

# uuid5 costs about 6 µs and every command needs the id twice (its lock, its load); references repeat.
agreement_id = functools.lru_cache(maxsize=4096)(uuid_of_ref)


@dataclass(frozen=True)
class WriteResult:
    """What a write returns: the agreement, the version it reached, and its position in the log."""

    ref: str
    version: int
    position: int

    def as_dict(self) -> dict[str, Any]:
        return {"ref": self.ref, "version": self.version, "position": self.position}


class CommitmentService:
    """Commands and queries on agreements. It holds no business rules: those live in the aggregate."""

    def __init__(self, settings: Settings, *, clock: Clock | None = None) -> None:
        parse_database_url(settings.database_url)
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self.clock: Clock = clock or (lambda: datetime.now(tz=self.zone))
        self._locks = [threading.Lock() for _ in range(64)]
        self.ledger = AgreementLedger(
            settings.database_url,
            snapshot_interval=settings.snapshot_interval,
            cache_size=settings.aggregate_cache_size,
            lock_timeout=settings.sqlite_lock_timeout,
        )
        self._views: ReadModels | None = None
        self._views_lock = threading.Lock()

    @property
    def views(self) -> ReadModels:
        """The read models (issue 3), built on first use on this service's ledger."""
        with self._views_lock:
            if self._views is None:
                self._views = ReadModels(self.settings, ledger=self.ledger)
            return self._views

    def close(self) -> None:
        if self._views is not None:
            self._views.close()
        self.ledger.close()

    def today(self) -> date:
        return self.clock().astimezone(self.zone).date()

    # Writes.

    def sign(self, command: c.SignAgreement, *, actor: str) -> WriteResult:
        if command.parent_ref is not None:
            self._load(command.parent_ref)
        recorded = self._recorded(command, actor)
        with self._lock_for(agreement_id(command.ref)):
            return self._sign_locked(command, recorded)

    def _sign_locked(self, command: c.SignAgreement, recorded: Recorded) -> WriteResult:
        for _ in range(self.settings.conflict_retries + 1):
            existing = self._find(agreement_id(command.ref))
            if existing is not None:
                if command.command_id is not None and existing.version_of_command(command.command_id) == 1:
                    return self._result(existing, 1)
                msg = f"agreement {command.ref} is already signed"
                raise AgreementExists(msg)
            agreement = Agreement.sign(
                ref=command.ref, kind=command.kind, title=command.title.model_dump(),
                parties=[p.model_dump() for p in command.parties], signed_on=command.signed_on,
                place=command.place, occasion=command.occasion, starts_on=command.starts_on,
                ends_on=command.ends_on, parent_ref=command.parent_ref, recorded=recorded,
            )
            try:
                recordings = self.ledger.save(agreement)
            except RecordConflictError:
                self.ledger.evict(agreement.id)
                continue
            return WriteResult(command.ref, agreement.version, recordings[-1].notification.id)
        raise ConcurrencyConflict(command.ref)

    def extend(self, ref: str, command: c.ExtendAgreement, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.extend(
            ends_on=command.ends_on, instrument=command.instrument, reason=command.reason, recorded=r))

    def add_beneficiaries(self, ref: str, command: c.AddBeneficiaries, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.add_beneficiaries(
            beneficiaries=command.beneficiaries, fund=command.fund, recorded=r))

    def allocate_funding(self, ref: str, command: c.AllocateFunding, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.allocate_funding(
            amount=command.amount, currency=command.currency, fund=command.fund,
            fiscal_years=command.fiscal_years, purpose=command.purpose, recorded=r))

    def correct_allocation(self, ref: str, command: c.CorrectAllocation, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.correct_allocation(
            corrects_version=command.corrects_version, amount=command.amount, reason=command.reason, recorded=r))

    def disburse(self, ref: str, command: c.DisburseFunding, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.disburse(
            amount=command.amount, currency=command.currency, value_date=command.value_date,
            tranche=command.tranche, recorded=r))

    def plan_milestone(self, ref: str, command: c.PlanMilestone, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.plan_milestone(
            milestone_id=command.milestone_id, title=command.title, due_on=command.due_on,
            responsible=command.responsible, kind=command.kind, recorded=r))

    def correct_milestone(self, ref: str, milestone_id: str, command: c.CorrectMilestone, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.correct_milestone(
            milestone_id=milestone_id, title=command.title, responsible=command.responsible,
            reason=command.reason, recorded=r))

    def report_progress(self, ref: str, milestone_id: str, command: c.ReportProgress, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.report_progress(
            milestone_id=milestone_id, percent=command.percent, note=command.note, reason=command.reason,
            recorded=r))

    def complete_milestone(self, ref: str, milestone_id: str, command: c.CompleteMilestone, *,
                           actor: str) -> WriteResult:
        # The aggregate refuses a completion dated after its effective date; this also refuses one dated after
        # today, which a client could otherwise record by setting both dates in the future.
        today = self.today()
        if command.completed_on > today:
            msg = f"a milestone cannot be completed on {command.completed_on}, a day still to come"
            raise InvalidValue(msg)
        return self._execute(ref, command, actor, lambda a, r: a.complete_milestone(
            milestone_id=milestone_id, completed_on=command.completed_on, evidence=command.evidence, recorded=r))

    def reschedule_milestone(self, ref: str, milestone_id: str, command: c.RescheduleMilestone, *,
                             actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.reschedule_milestone(
            milestone_id=milestone_id, due_on=command.due_on, reason=command.reason, recorded=r))

    def cancel_milestone(self, ref: str, milestone_id: str, command: c.CancelMilestone, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.cancel_milestone(
            milestone_id=milestone_id, reason=command.reason, recorded=r))

    def terminate(self, ref: str, command: c.CloseAgreement, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.terminate(
            on=command.on, reason=command.reason, recorded=r))

    def complete(self, ref: str, command: c.CloseAgreement, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.complete(
            on=command.on, reason=command.reason, recorded=r))

    def add_contact(self, ref: str, command: c.AddContact, *, actor: str) -> WriteResult:
        return self._execute(ref, command, actor, lambda a, r: a.add_contact(
            party=command.party, channel=command.channel, address=command.address, recorded=r))

    def execute(self, ref: str, meta: c.CommandMeta, actor: str,
                action: Callable[[Agreement, Recorded], None]) -> WriteResult:
        """Run one command on one agreement: for callers in this project (the scheduler's flags and reminders)."""
        return self._execute(ref, meta, actor, action)

    # Reads that need the aggregate itself.

    def agreement(self, ref: str) -> Agreement:
        """The current state, loaded fresh from the store (snapshot plus later events), never from the cache."""
        return self._load(ref, fresh=True)

    def parties(self, ref: str) -> list[str]:
        """The short names of an agreement's parties. No event changes them after signing, so the cached
        agreement answers without a read: this runs before every write, for object-level authorization."""
        return self._load(ref).party_short_names

    def show(self, ref: str) -> dict[str, Any]:
        return agreement_state(self.agreement(ref))

    def show_as_of(self, ref: str, as_of: date) -> dict[str, Any]:
        """The state as recorded by the end of `as_of` (in the configured zone): what the system knew then."""
        cutoff = datetime.combine(as_of + timedelta(days=1), time(), tzinfo=self.zone)
        agreement = as_recorded_before(self.ledger.events.get(self.existing_id(ref)), cutoff)
        if agreement is None:
            msg = f"agreement {ref} was not yet recorded on {as_of}"
            raise AgreementNotFound(msg)
        return agreement_state(agreement)

    def show_effective_on(self, ref: str, on: date) -> dict[str, Any]:
        """The state as true in the world on `on`, from each fact's effective date."""
        agreement = as_effective_on(self.ledger.events.get(self.existing_id(ref)), on)
        if agreement is None:
            msg = f"agreement {ref} was not yet in effect on {on}"
            raise AgreementNotFound(msg)
        return agreement_state(agreement)

    def history(self, ref: str) -> Iterator[dict[str, Any]]:
        # Not a generator itself: an unknown ref fails here, before a caller starts writing output.
        agreement_uuid = self.existing_id(ref)
        return (history_entry(event) for event in self.ledger.events.get(agreement_uuid))

    def list_agreements(self) -> list[dict[str, Any]]:
        """One summary row per agreement, in signing order: from the read models, caught up first."""
        self.views.catch_up()
        return self.views.list_agreements(self.today())

    def refs(self) -> list[str]:
        """Every agreement's reference, in signing order (read from the log, not by replaying agreements)."""
        refs: list[str] = []
        signed_topic = _topic_of(Agreement.AgreementSigned)
        start = 1
        while True:
            batch = self.ledger.recorder.select_notifications(start, 500, topics=[signed_topic])
            for notification in batch:
                refs.append(self.ledger.mapper.to_domain_event(notification).ref)  # type: ignore[attr-defined]
            if len(batch) < 500:
                return refs
            start = batch[-1].id + 1

    def max_position(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0

    # The mechanics of a command.

    def _execute(self, ref: str, meta: c.CommandMeta, actor: str,
                 action: Callable[[Agreement, Recorded], None]) -> WriteResult:
        recorded = self._recorded(meta, actor)
        with self._lock_for(agreement_id(ref)):
            return self._execute_locked(ref, meta, recorded, action)

    def _lock_for(self, aggregate_id: UUID) -> threading.Lock:
        # Cached agreements are shared objects (no deep copy), so two threads of one process (the HTTP
        # server's workers) must not run commands on the same agreement at once. Other processes are
        # kept apart by the store's (id, version) key instead.
        return self._locks[aggregate_id.int % len(self._locks)]

    def _execute_locked(self, ref: str, meta: c.CommandMeta, recorded: Recorded,
                        action: Callable[[Agreement, Recorded], None]) -> WriteResult:
        for _ in range(self.settings.conflict_retries + 1):
            agreement = self._load(ref)
            if meta.expected_version is not None and agreement.version < meta.expected_version:
                # The cache may lag behind other processes' writes: read the store before calling the client stale.
                self.ledger.evict(agreement.id)
                agreement = self._load(ref)
            done = agreement.version_of_command(meta.command_id)
            if done is not None:
                return self._result(agreement, done)
            if meta.expected_version is not None and agreement.version != meta.expected_version:
                # Optimistic concurrency (issue 7). A conflict below reloads, so this is checked on fresh state too.
                raise StaleVersion(ref, meta.expected_version, agreement.version)
            saved, version = False, agreement.version
            try:
                action(agreement, recorded)
                recordings = self.ledger.save(agreement)
                saved = True
            except RecordConflictError:
                # Another writer got there first: our cached state is stale. Reload and decide again.
                continue
            except DomainError:
                # A rule judged on a cached agreement that other processes have since moved on is not a
                # verdict: decide again on the stored state. One cheap read, on the refusal path only.
                if self._stored_version(agreement.id) == version:
                    raise
                continue
            finally:
                if not saved:
                    # The cached agreement may hold an event that was never stored.
                    self.ledger.evict(agreement.id)
            return WriteResult(ref, agreement.version, recordings[-1].notification.id)
        raise ConcurrencyConflict(ref)

    def _stored_version(self, aggregate_id: UUID) -> int:
        latest = self.ledger.recorder.select_events(aggregate_id, desc=True, limit=1)
        return latest[0].originator_version if latest else 0

    def _recorded(self, meta: c.CommandMeta, actor: str) -> Recorded:
        return Recorded(actor=actor, effective_on=meta.effective_on or self.today(),
                        source=meta.source, command_id=meta.command_id)

    def _find(self, aggregate_id: UUID, *, fresh: bool = False) -> Agreement | None:
        try:
            found: object = self.ledger.repository.get(aggregate_id, version=sys.maxsize if fresh else None,
                                                       projector_func=replay)
        except AggregateNotFoundError:
            return None
        assert isinstance(found, Agreement)
        return found

    def existing_id(self, ref: str) -> UUID:
        """The id of a stored agreement, checked with one indexed read instead of loading the agreement."""
        aggregate_id = agreement_id(ref)
        if self._stored_version(aggregate_id) == 0:
            msg = f"no agreement with ref {ref!r}"
            raise AgreementNotFound(msg)
        return aggregate_id

    def _load(self, ref: str, *, fresh: bool = False) -> Agreement:
        agreement = self._find(agreement_id(ref), fresh=fresh)
        if agreement is None:
            msg = f"no agreement with ref {ref!r}"
            raise AgreementNotFound(msg)
        return agreement

    def _result(self, agreement: Agreement, version: int) -> WriteResult:
        return WriteResult(agreement.ref, version, self.position_of(agreement.id, version))

    def position_of(self, aggregate_id: UUID, version: int) -> int:
        """Where an already stored event sits in the log: the answer to a repeated command."""
        recorder: Any = self.ledger.recorder
        if parse_database_url(self.settings.database_url).get_backend_name() == "sqlite":
            with recorder.datastore.transaction(commit=False) as cursor:
                cursor.execute(
                    f"SELECT rowid FROM {self.ledger.events_table} WHERE originator_id=? AND originator_version=?",  # noqa: S608
                    (aggregate_id.hex, version),
                )
                return int(cursor.fetchone()[0])
        with recorder.datastore.transaction(commit=False) as cursor:
            cursor.execute(
                f"SELECT notification_id FROM {self.ledger.events_table} "  # noqa: S608
                "WHERE originator_id=%s AND originator_version=%s",
                (aggregate_id, version),
            )
            return int(cursor.fetchone()["notification_id"])


def _topic_of(cls: type) -> str:
    from eventsourcing.utils import get_topic

    return get_topic(cls)
