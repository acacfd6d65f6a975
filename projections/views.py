"""The read models: each view applies events to its own tables and records its position in the same transaction."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from sqlalchemy import Connection, Engine, Table, Update, bindparam, select, text

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

    def process(self, items: Sequence[Projected], record: Tracking, since: int) -> int:
        """Apply the events this view has not seen yet and move its position to `record`, in one transaction."""
        with self.writer.begin() as conn:
            return self.process_in(conn, items, record, since)

    def process_in(self, conn: Connection, items: Sequence[Projected], record: Tracking, since: int) -> int:
        """Within the caller's transaction: apply the events this view has not seen yet, then record `record`.

        `items` must hold every event after position `since` up to `record`. The view's position is read inside
        the transaction, under a lock that every writer of this view takes (the write lock on SQLite, an advisory
        lock on PostgreSQL), so two runners never apply the same event twice, even when they started from
        different positions; and if the view is behind `since` (a rebuild reset it meanwhile), nothing is
        applied, so no event is skipped. Returns the number of events applied.
        """
        self._lock(conn)
        position = self._max_tracking_id(conn, record.application_name) or 0
        if position < since:
            return 0
        todo = [item for item in items if item.position > position]
        if not todo:
            return 0
        self.apply_batch(conn, todo)
        self._insert_tracking(conn, record)
        return len(todo)

    def _lock(self, conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.lock_key})

    @property
    def lock_key(self) -> int:
        digest = hashlib.sha256(f"commitments-view:{self.name}".encode()).digest()
        return int.from_bytes(digest[:8], "big", signed=True)

    def apply_batch(self, conn: Connection, items: Sequence[Projected]) -> None:
        """Change this view's rows for a batch of events, in order (a view may override this to go faster)."""
        for item in items:
            self.apply(conn, item)

    @abstractmethod
    def apply(self, conn: Connection, item: Projected) -> None:
        """Change this view's rows for one event."""


def add(amount: str, delta: Decimal) -> str:
    return str(Decimal(amount) + delta)


_AGREEMENT = t.agreements.update().where(t.agreements.c.agreement_id == bindparam("b_id"))
_FUNDING = t.agreement_funding.update().where(t.agreement_funding.c.agreement_id == bindparam("b_id"),
                                             t.agreement_funding.c.currency == bindparam("b_currency"))
_ALLOCATION = t.agreement_allocations.update().where(t.agreement_allocations.c.agreement_id == bindparam("b_id"),
                                                     t.agreement_allocations.c.version == bindparam("b_version"))


class AgreementsView(View):
    """One row per agreement: state, term, parties, funding per currency, and its open milestones' due dates.

    Within a batch each agreement's row is read once, changed in memory, and written once.
    """

    name = "agreements"
    tables = (t.agreements, t.agreement_funding, t.agreement_allocations)

    def apply_batch(self, conn: Connection, items: Sequence[Projected]) -> None:
        rows: dict[str, dict[str, Any]] = {}
        signed: list[str] = []
        for item in items:
            aid = item.agreement_id
            if isinstance(item.event, A.AgreementSigned):
                signed.append(aid)
                rows[aid] = self._signed(item, item.event)
            elif aid not in rows:
                rows[aid] = dict(conn.execute(select(t.agreements).where(t.agreements.c.agreement_id == aid)).one()._mapping)
            self._change(conn, rows[aid], item)
        if signed:
            conn.execute(t.agreements.insert(), [rows[aid] for aid in signed])
        updates = [{**{k: v for k, v in row.items() if k != "agreement_id"}, "b_id": aid}
                   for aid, row in rows.items() if aid not in signed]
        if updates:
            conn.execute(_AGREEMENT, updates)

    def apply(self, conn: Connection, item: Projected) -> None:
        self.apply_batch(conn, [item])

    @staticmethod
    def _signed(item: Projected, e: Agreement.AgreementSigned) -> dict[str, Any]:
        return {"agreement_id": item.agreement_id, "ref": e.ref, "signed_position": item.position, "kind": e.kind,
                "status": "active", "title": dict(e.title), "parties": plain(e.parties), "signed_on": e.signed_on,
                "place": e.place, "occasion": e.occasion, "parent_ref": e.parent_ref, "starts_on": e.starts_on,
                "ends_on": e.ends_on, "beneficiaries": [], "open_milestones": {}, "closed_on": None}

    def _change(self, conn: Connection, row: dict[str, Any], item: Projected) -> None:
        e, aid = item.event, item.agreement_id
        row.update(version=e.originator_version, last_recorded_at=e.timestamp.isoformat())
        match e:
            case A.AgreementExtended():
                row["ends_on"] = e.ends_on
            case A.BeneficiariesAdded():
                current = list(row["beneficiaries"])
                row["beneficiaries"] = current + [b for b in e.beneficiaries if b not in current]
            case A.FundingAllocated():
                conn.execute(t.agreement_allocations.insert(), {"agreement_id": aid, "version": e.originator_version,
                                                                "currency": e.currency, "amount": str(e.amount)})
                self._add_funding(conn, aid, e.currency, allocated=e.amount)
            case A.FundingAllocationCorrected():
                a = t.agreement_allocations
                currency, amount = conn.execute(select(a.c.currency, a.c.amount).where(
                    a.c.agreement_id == aid, a.c.version == e.corrects_version)).one()
                conn.execute(_ALLOCATION, {"b_id": aid, "b_version": e.corrects_version, "amount": str(e.amount)})
                self._add_funding(conn, aid, currency, allocated=e.amount - Decimal(amount))
            case A.FundingDisbursed():
                self._add_funding(conn, aid, e.currency, disbursed=e.amount)
            case A.MilestonePlanned() | A.MilestoneRescheduled():
                row["open_milestones"] = {**row["open_milestones"], e.milestone_id: e.due_on.isoformat()}
            case A.MilestoneCompleted() | A.MilestoneCancelled():
                row["open_milestones"] = {k: v for k, v in row["open_milestones"].items() if k != e.milestone_id}
            case A.AgreementTerminated():
                row.update(status="terminated", closed_on=e.on)
            case A.AgreementCompleted():
                row.update(status="completed", closed_on=e.on)
            case _:
                pass

    def _add_funding(self, conn: Connection, aid: str, currency: str, *, allocated: Decimal = Decimal(0),
                     disbursed: Decimal = Decimal(0)) -> None:
        f = t.agreement_funding
        row = conn.execute(select(f.c.allocated, f.c.disbursed).where(
            f.c.agreement_id == aid, f.c.currency == currency)).first()
        if row is None:
            # Start from Decimal(0), as the aggregate does, so the totals print the same.
            conn.execute(f.insert(), {"agreement_id": aid, "currency": currency, "allocated": add("0", allocated),
                                      "disbursed": add("0", disbursed)})
        else:
            conn.execute(_FUNDING, {"b_id": aid, "b_currency": currency, "allocated": add(row.allocated, allocated),
                                    "disbursed": add(row.disbursed, disbursed)})


_M = t.milestones
_MILESTONE = _M.update().where(_M.c.agreement_id == bindparam("b_id"), _M.c.milestone_id == bindparam("b_mid"))
_PROGRESS = _MILESTONE.values(percent=bindparam("v_percent"), status="in_progress",
                              is_open=_M.c.agreement_status == "active")
_RESCHEDULED = _MILESTONE.values(due_on=bindparam("v_due_on"), times_rescheduled=_M.c.times_rescheduled + 1)
_REMINDED = _MILESTONE.values(reminders_sent=_M.c.reminders_sent + 1)
_CLOSED = _M.update().where(_M.c.agreement_id == bindparam("b_id")).values(
    agreement_status=bindparam("v_status"), is_open=False)


class MilestonesView(View):
    """One row per milestone: due date, status, responsible party, progress, and when completion was recorded."""

    name = "milestones"
    tables = (t.milestones,)

    def apply(self, conn: Connection, item: Projected) -> None:
        e, aid = item.event, item.agreement_id
        statement: Update
        changes: dict[str, Any]
        match e:
            case A.MilestonePlanned():
                conn.execute(_M.insert(), {
                    "agreement_id": aid, "milestone_id": e.milestone_id, "agreement_ref": item.ref, "is_open": True,
                    "agreement_status": "active", "title": e.title, "kind": e.kind, "responsible": e.responsible,
                    "status": "planned", "due_on": e.due_on, "original_due_on": e.due_on, "times_rescheduled": 0,
                    "percent": 0, "reminders_sent": 0, "planned_position": item.position})
                return
            case A.MilestoneCorrected():
                statement, changes = _MILESTONE, {"title": e.title, "responsible": e.responsible}
            case A.MilestoneProgressReported():
                statement, changes = _PROGRESS, {"v_percent": e.percent}
            case A.MilestoneCompleted():
                statement, changes = _MILESTONE, {
                    "status": "completed", "percent": 100, "is_open": False, "completed_on": e.completed_on,
                    "completion_recorded_at": e.timestamp.isoformat(), "completion_effective_on": e.effective_on}
            case A.MilestoneRescheduled():
                statement, changes = _RESCHEDULED, {"v_due_on": e.due_on}
            case A.MilestoneCancelled():
                statement, changes = _MILESTONE, {"status": "cancelled", "is_open": False}
            case A.MilestoneFlaggedOverdue():
                statement, changes = _MILESTONE, {"last_flagged_due_on": e.due_on}
            case A.ReminderSent() if e.outcome == "sent":
                statement, changes = _REMINDED, {}
            case A.AgreementTerminated() | A.AgreementCompleted():
                status = "terminated" if isinstance(e, A.AgreementTerminated) else "completed"
                conn.execute(_CLOSED, {"b_id": aid, "v_status": status})
                return
            case _:
                return
        conn.execute(statement, {"b_id": aid, "b_mid": e.milestone_id, **changes})


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

    def apply_batch(self, conn: Connection, items: Sequence[Projected]) -> None:
        conn.execute(t.activity.insert(), [self._row(item) for item in items])

    def apply(self, conn: Connection, item: Projected) -> None:
        self.apply_batch(conn, [item])

    @staticmethod
    def _row(item: Projected) -> dict[str, Any]:
        e = item.event
        return {"position": item.position, "agreement_id": item.agreement_id, "agreement_ref": item.ref,
                "version": e.originator_version, "event_type": type(e).__name__, "recorded_at": e.timestamp.isoformat(),
                "effective_on": e.effective_on, "actor": e.actor, "milestone_id": getattr(e, "milestone_id", None),
                "summary": summary(e)}


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


