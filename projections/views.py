"""The read models: each view applies events to its own tables and records its position in the same transaction."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from sqlalchemy import Connection, Engine, Table, and_, select, text

from domain.agreement import Agreement
from domain.chain import plain
from projections import tables as t
from projections.tracking import SqlTrackingRecorder

A = Agreement


@dataclass(frozen=True)
class Projected:
    """One event as the views receive it: its position in the log and the reference of its agreement."""

    position: int
    ref: str
    event: Agreement.Event

    @property
    def agreement_id(self) -> str:
        return self.event.originator_id.hex


class View(SqlTrackingRecorder, ABC):
    """A read model: some tables, and the position in the event log they reflect."""

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, self.name)

    def create_tables(self) -> None:
        with self.writer.begin() as conn:
            t.tracking.create(conn, checkfirst=True)
            for table in self.tables:
                table.create(conn, checkfirst=True)

    def reset(self) -> None:
        """Drop and recreate this view's tables and forget its position, in one transaction."""
        with self.writer.begin() as conn:
            self._lock(conn)
            for table in reversed(self.tables):
                table.drop(conn, checkfirst=True)
            self._delete_tracking(conn)
            for table in self.tables:
                table.create(conn)

    def process(self, items: Sequence[Projected], record: Tracking) -> int:
        """Apply the events this view has not seen yet and move its position to `record`, in one transaction.

        The position is read inside the transaction, under a lock that every writer of this view takes (the
        write lock on SQLite, an advisory lock on PostgreSQL), so two runners never apply the same event twice,
        even when they started from different positions. Returns the number of events applied.
        """
        with self.writer.begin() as conn:
            self._lock(conn)
            position = self._max_tracking_id(conn, record.application_name) or 0
            todo = [item for item in items if item.position > position]
            if not todo:
                return 0
            for item in todo:
                self.apply(conn, item)
            self._insert_tracking(conn, record)
            return len(todo)

    def _lock(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.lock_key})

    @property
    def lock_key(self) -> int:
        digest = hashlib.sha256(f"commitments-view:{self.name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    @abstractmethod
    def apply(self, conn: Connection, item: Projected) -> None:
        """Change this view's rows for one event."""


def add(amount: str, delta: Decimal) -> str:
    return str(Decimal(amount) + delta)


class AgreementsView(View):
    """One row per agreement: state, term, parties, funding per currency, and its open milestones' due dates."""

    name = "agreements"
    tables = (t.agreements, t.agreement_funding, t.agreement_allocations)

    def apply(self, conn: Connection, item: Projected) -> None:
        e, aid = item.event, item.agreement_id
        changes: dict[str, Any] = {"version": e.originator_version, "last_recorded_at": e.timestamp.isoformat()}
        match e:
            case A.AgreementSigned():
                conn.execute(t.agreements.insert().values(
                    agreement_id=aid, ref=e.ref, signed_position=item.position, kind=e.kind, status="active",
                    title=dict(e.title), parties=plain(e.parties), signed_on=e.signed_on, place=e.place,
                    occasion=e.occasion, parent_ref=e.parent_ref, starts_on=e.starts_on, ends_on=e.ends_on,
                    beneficiaries=[], open_milestones={}, **changes))
                return
            case A.AgreementExtended():
                changes["ends_on"] = e.ends_on
            case A.BeneficiariesAdded():
                current = list(self._row(conn, aid)["beneficiaries"])
                changes["beneficiaries"] = current + [b for b in e.beneficiaries if b not in current]
            case A.FundingAllocated():
                conn.execute(t.agreement_allocations.insert().values(
                    agreement_id=aid, version=e.originator_version, currency=e.currency, amount=str(e.amount)))
                self._add_funding(conn, aid, e.currency, allocated=e.amount)
            case A.FundingAllocationCorrected():
                key = and_(t.agreement_allocations.c.agreement_id == aid,
                           t.agreement_allocations.c.version == e.corrects_version)
                currency, amount = conn.execute(select(t.agreement_allocations.c.currency,
                                                       t.agreement_allocations.c.amount).where(key)).one()
                conn.execute(t.agreement_allocations.update().where(key).values(amount=str(e.amount)))
                self._add_funding(conn, aid, currency, allocated=e.amount - Decimal(amount))
            case A.FundingDisbursed():
                self._add_funding(conn, aid, e.currency, disbursed=e.amount)
            case A.MilestonePlanned() | A.MilestoneRescheduled():
                due = dict(self._row(conn, aid)["open_milestones"])
                due[e.milestone_id] = e.due_on.isoformat()
                changes["open_milestones"] = due
            case A.MilestoneCompleted() | A.MilestoneCancelled():
                due = dict(self._row(conn, aid)["open_milestones"])
                due.pop(e.milestone_id, None)
                changes["open_milestones"] = due
            case A.AgreementTerminated():
                changes.update(status="terminated", closed_on=e.on)
            case A.AgreementCompleted():
                changes.update(status="completed", closed_on=e.on)
        conn.execute(t.agreements.update().where(t.agreements.c.agreement_id == aid).values(**changes))

    def _row(self, conn: Connection, aid: str) -> Any:
        return conn.execute(select(t.agreements).where(t.agreements.c.agreement_id == aid)).one()._mapping

    def _add_funding(self, conn: Connection, aid: str, currency: str, *, allocated: Decimal = Decimal(0),
                     disbursed: Decimal = Decimal(0)) -> None:
        f = t.agreement_funding
        key = and_(f.c.agreement_id == aid, f.c.currency == currency)
        row = conn.execute(select(f.c.allocated, f.c.disbursed).where(key)).first()
        if row is None:
            # Start from Decimal(0), as the aggregate does, so the totals print the same.
            conn.execute(f.insert().values(agreement_id=aid, currency=currency, allocated=add("0", allocated),
                                           disbursed=add("0", disbursed)))
        else:
            conn.execute(f.update().where(key).values(allocated=add(row.allocated, allocated),
                                                      disbursed=add(row.disbursed, disbursed)))


class MilestonesView(View):
    """One row per milestone: due date, status, responsible party, progress, and when completion was recorded."""

    name = "milestones"
    tables = (t.milestones,)

    def apply(self, conn: Connection, item: Projected) -> None:
        e, aid, m = item.event, item.agreement_id, t.milestones
        still_open = m.c.agreement_status == "active"
        match e:
            case A.MilestonePlanned():
                conn.execute(m.insert().values(
                    agreement_id=aid, milestone_id=e.milestone_id, agreement_ref=item.ref, is_open=True,
                    agreement_status="active", title=e.title, kind=e.kind, responsible=e.responsible,
                    status="planned", due_on=e.due_on, original_due_on=e.due_on, times_rescheduled=0, percent=0,
                    reminders_sent=0, planned_position=item.position))
                return
            case A.MilestoneCorrected():
                changes: dict[str, Any] = {"title": e.title, "responsible": e.responsible}
            case A.MilestoneProgressReported():
                changes = {"percent": e.percent, "status": "in_progress", "is_open": still_open}
            case A.MilestoneCompleted():
                changes = {"status": "completed", "percent": 100, "is_open": False, "completed_on": e.completed_on,
                           "completion_recorded_at": e.timestamp.isoformat(),
                           "completion_effective_on": e.effective_on}
            case A.MilestoneRescheduled():
                changes = {"due_on": e.due_on, "times_rescheduled": m.c.times_rescheduled + 1}
            case A.MilestoneCancelled():
                changes = {"status": "cancelled", "is_open": False}
            case A.MilestoneFlaggedOverdue():
                changes = {"last_flagged_due_on": e.due_on}
            case A.ReminderSent() if e.outcome == "sent":
                changes = {"reminders_sent": m.c.reminders_sent + 1}
            case A.AgreementTerminated() | A.AgreementCompleted():
                status = "terminated" if isinstance(e, A.AgreementTerminated) else "completed"
                conn.execute(m.update().where(m.c.agreement_id == aid).values(agreement_status=status, is_open=False))
                return
            case _:
                return
        conn.execute(m.update().where(m.c.agreement_id == aid, m.c.milestone_id == e.milestone_id).values(**changes))


class FundingView(View):
    """Allocations by fund and fiscal years, disbursements by value date: the money, exactly."""

    name = "funding"
    tables = (t.funding_allocations, t.funding_disbursements)

    def apply(self, conn: Connection, item: Projected) -> None:
        e, aid = item.event, item.agreement_id
        match e:
            case A.FundingAllocated():
                conn.execute(t.funding_allocations.insert().values(
                    agreement_id=aid, version=e.originator_version, agreement_ref=item.ref, fund=e.fund,
                    currency=e.currency, fiscal_years=",".join(str(y) for y in sorted(e.fiscal_years)),
                    amount=str(e.amount), original_amount=str(e.amount), corrections=0))
            case A.FundingAllocationCorrected():
                a = t.funding_allocations
                conn.execute(a.update().where(a.c.agreement_id == aid, a.c.version == e.corrects_version).values(
                    amount=str(e.amount), corrections=a.c.corrections + 1))
            case A.FundingDisbursed():
                conn.execute(t.funding_disbursements.insert().values(
                    agreement_id=aid, version=e.originator_version, agreement_ref=item.ref, currency=e.currency,
                    value_date=e.value_date, year=e.value_date.year, tranche=e.tranche, amount=str(e.amount)))
            case _:
                return


class PortfolioView(View):
    """Each party's agreements, with its role in each."""

    name = "portfolio"
    tables = (t.party_agreements,)

    def apply(self, conn: Connection, item: Projected) -> None:
        e, aid, p = item.event, item.agreement_id, t.party_agreements
        match e:
            case A.AgreementSigned():
                conn.execute(p.insert(), [
                    {"short_name": party["short_name"], "agreement_id": aid, "agreement_ref": e.ref,
                     "role": party.get("role", ""), "name": plain(party.get("name", {})), "kind": e.kind,
                     "title": dict(e.title), "status": "active", "signed_on": e.signed_on, "ends_on": e.ends_on,
                     "signed_position": item.position, "contacts": 0}
                    for party in e.parties])
            case A.AgreementExtended():
                conn.execute(p.update().where(p.c.agreement_id == aid).values(ends_on=e.ends_on))
            case A.ContactAdded():
                conn.execute(p.update().where(p.c.agreement_id == aid, p.c.short_name == e.party).values(
                    contacts=p.c.contacts + 1))
            case A.AgreementTerminated():
                conn.execute(p.update().where(p.c.agreement_id == aid).values(status="terminated"))
            case A.AgreementCompleted():
                conn.execute(p.update().where(p.c.agreement_id == aid).values(status="completed"))
            case _:
                return


class ActivityView(View):
    """The activity feed for audit: one row per event, newest last, with who recorded it and when."""

    name = "activity"
    tables = (t.activity,)

    def apply(self, conn: Connection, item: Projected) -> None:
        e = item.event
        conn.execute(t.activity.insert().values(
            position=item.position, agreement_id=item.agreement_id, agreement_ref=item.ref,
            version=e.originator_version, event_type=type(e).__name__, recorded_at=e.timestamp.isoformat(),
            effective_on=e.effective_on, actor=e.actor, milestone_id=getattr(e, "milestone_id", None),
            summary=summary(e)))


SUMMARY_SKIPS = frozenset({"title", "parties", "milestone_id"})


def summary(event: Agreement.Event) -> str:
    """The facts of an event on one line (metadata left out)."""
    facts = {k: v for k, v in vars(event).items()
             if k not in SUMMARY_SKIPS and k not in ("originator_id", "originator_version", "timestamp", "actor",
                                                     "effective_on", "source", "command_id", "prev_hash", "hash",
                                                     "originator_topic")}
    text = ", ".join(f"{k}={plain(v)}" for k, v in facts.items())
    return text[:500]


def all_views(engine: Engine) -> list[View]:
    return [AgreementsView(engine), MilestonesView(engine), FundingView(engine), PortfolioView(engine),
            ActivityView(engine)]


