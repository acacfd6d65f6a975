"""The read models: each view applies events to its own tables and records its position in the same transaction."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cache, cached_property
from typing import Any, ClassVar

from eventsourcing.persistence import Tracking
from sqlalchemy import Connection, Engine, Table, text

from domain.agreement import Agreement
from domain.chain import plain
from projections import tables as t
from projections.batch import BatchRows, Row, TableRows
from projections.tracking import SqlTrackingRecorder

A = Agreement


@dataclass(frozen=True)
class Projected:
    """One event as the views receive it: its position in the log and the reference of its agreement."""

    position: int
    ref: str
    event: Agreement.Event

    @cached_property
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
        todo = items if items and items[0].position > position else [item for item in items if item.position > position]
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

    @abstractmethod
    def apply_batch(self, conn: Connection, items: Sequence[Projected]) -> None:
        """Change this view's rows for a batch of events, as applying them one by one in log order would."""


def add(amount: str, delta: Decimal) -> str:
    return str(Decimal(amount) + delta)


EventTypes = frozenset[type[Agreement.Event]]
# Events are matched by their exact class: every event class derives directly from Agreement.Event, and a set
# lookup lets a view pass over the events it does not keep (most of a batch, for most views) at little cost.


def of_types(items: Sequence[Projected], events: EventTypes) -> list[Projected]:
    """The batch's events of these types, in log order."""
    return [item for item in items if type(item.event) in events]


def signed_in(items: Sequence[Projected]) -> set[str]:
    """The agreements signed within a batch: the store has no rows of theirs to read."""
    return {item.agreement_id for item in items if type(item.event) is A.AgreementSigned}


def stored(items: Sequence[Projected], events: EventTypes, signed: set[str]) -> list[str]:
    """The agreements, not signed within the batch, that the batch's events of these types touch."""
    return [item.agreement_id for item in items if type(item.event) in events and item.agreement_id not in signed]


def row_of(rows: BatchRows, item: Projected, *key: Any) -> Row:
    row = rows.get(*key)
    if row is None:
        msg = f"{rows.spec.table.name} has no row {key} for event {item.position} ({type(item.event).__name__})"
        raise LookupError(msg)
    return row


_AGREEMENTS = TableRows(t.agreements, ("agreement_id",))
_AGREEMENT_FUNDING = TableRows(t.agreement_funding, ("agreement_id", "currency"))
_AGREEMENT_ALLOCATIONS = TableRows(t.agreement_allocations, ("agreement_id", "version"))
_MONEY: EventTypes = frozenset({A.FundingAllocated, A.FundingAllocationCorrected, A.FundingDisbursed})
_CORRECTIONS: EventTypes = frozenset({A.FundingAllocationCorrected})
_CLOSINGS: EventTypes = frozenset({A.AgreementTerminated, A.AgreementCompleted})
_AGREEMENT_FACTS: EventTypes = frozenset({
    A.AgreementSigned, A.AgreementExtended, A.BeneficiariesAdded, *_MONEY, A.MilestonePlanned, A.MilestoneRescheduled,
    A.MilestoneCompleted, A.MilestoneCancelled, *_CLOSINGS})


class AgreementsView(View):
    """One row per agreement: state, term, parties, funding per currency, and its open milestones' due dates."""

    name = "agreements"
    tables = (t.agreements, t.agreement_funding, t.agreement_allocations)

    def apply_batch(self, conn: Connection, items: Sequence[Projected]) -> None:
        signed = signed_in(items)
        agreements, funding, allocations = _AGREEMENTS.batch(), _AGREEMENT_FUNDING.batch(), _AGREEMENT_ALLOCATIONS.batch()
        agreements.load(conn, [item.agreement_id for item in items if item.agreement_id not in signed])
        facts = of_types(items, _AGREEMENT_FACTS)
        funding.load(conn, stored(facts, _MONEY, signed))
        allocations.load(conn, stored(facts, _CORRECTIONS, signed))
        for item in facts:
            if isinstance(item.event, A.AgreementSigned):
                agreements.add(self._signed(item, item.event))
            self._change(row_of(agreements, item, item.agreement_id), item, funding, allocations)
        # Every event moves its agreement's version and last-recorded time: set once, from its last event.
        last = {item.agreement_id: item for item in items}
        for aid, item in last.items():
            row = row_of(agreements, item, aid)
            row.update(version=item.event.originator_version, last_recorded_at=item.event.timestamp.isoformat())
            agreements.changed(row)
        for rows in (agreements, funding, allocations):
            rows.write(conn)

    @staticmethod
    def _signed(item: Projected, e: Agreement.AgreementSigned) -> Row:
        # Its version and last_recorded_at are set with the batch's last event of the agreement (apply_batch).
        return {"agreement_id": item.agreement_id, "ref": e.ref, "signed_position": item.position, "kind": e.kind,
                "status": "active", "title": dict(e.title), "parties": plain(e.parties), "signed_on": e.signed_on,
                "place": e.place, "occasion": e.occasion, "parent_ref": e.parent_ref, "starts_on": e.starts_on,
                "ends_on": e.ends_on, "beneficiaries": [], "open_milestones": {}, "closed_on": None}

    @staticmethod
    def _change(row: Row, item: Projected, funding: BatchRows, allocations: BatchRows) -> None:
        e, aid = item.event, item.agreement_id
        match e:
            case A.AgreementExtended():
                row["ends_on"] = e.ends_on
            case A.BeneficiariesAdded():
                current = list(row["beneficiaries"])
                row["beneficiaries"] = current + [b for b in e.beneficiaries if b not in current]
            case A.FundingAllocated():
                allocations.add({"agreement_id": aid, "version": e.originator_version, "currency": e.currency,
                                 "amount": str(e.amount)})
                add_funding(funding, aid, e.currency, allocated=e.amount)
            case A.FundingAllocationCorrected():
                allocation = row_of(allocations, item, aid, e.corrects_version)
                before, allocation["amount"] = Decimal(allocation["amount"]), str(e.amount)
                allocations.changed(allocation)
                add_funding(funding, aid, allocation["currency"], allocated=e.amount - before)
            case A.FundingDisbursed():
                add_funding(funding, aid, e.currency, disbursed=e.amount)
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


def add_funding(funding: BatchRows, aid: str, currency: str, *, allocated: Decimal = Decimal(0),
                disbursed: Decimal = Decimal(0)) -> None:
    row = funding.get(aid, currency)
    if row is None:
        # Start from Decimal(0), as the aggregate does, so the totals print the same.
        funding.add({"agreement_id": aid, "currency": currency, "allocated": add("0", allocated),
                     "disbursed": add("0", disbursed)})
    else:
        row.update(allocated=add(row["allocated"], allocated), disbursed=add(row["disbursed"], disbursed))
        funding.changed(row)


_MILESTONES = TableRows(t.milestones, ("agreement_id", "milestone_id"))
_MILESTONE_CHANGES: EventTypes = frozenset({
    A.MilestoneCorrected, A.MilestoneProgressReported, A.MilestoneCompleted, A.MilestoneRescheduled,
    A.MilestoneCancelled, A.MilestoneFlaggedOverdue, A.ReminderSent})
_MILESTONE_FACTS: EventTypes = frozenset({A.MilestonePlanned, *_MILESTONE_CHANGES, *_CLOSINGS})


class MilestonesView(View):
    """One row per milestone: due date, status, responsible party, progress, and when completion was recorded.

    Within a batch each milestone's row is read at most once and written at most once, with its latest state.
    """

    name = "milestones"
    tables = (t.milestones,)

    def apply_batch(self, conn: Connection, items: Sequence[Projected]) -> None:
        milestones = _MILESTONES.batch()
        facts = of_types(items, _MILESTONE_FACTS)
        milestones.load(conn, stored(facts, _MILESTONE_CHANGES | _CLOSINGS, signed_in(items)))
        for item in facts:
            e, aid = item.event, item.agreement_id
            if isinstance(e, A.MilestonePlanned):
                milestones.add({
                    "agreement_id": aid, "milestone_id": e.milestone_id, "agreement_ref": item.ref, "is_open": True,
                    "agreement_status": "active", "title": e.title, "kind": e.kind, "responsible": e.responsible,
                    "status": "planned", "due_on": e.due_on, "original_due_on": e.due_on, "times_rescheduled": 0,
                    "percent": 0, "reminders_sent": 0, "planned_position": item.position})
            elif type(e) in _CLOSINGS:
                status = "terminated" if isinstance(e, A.AgreementTerminated) else "completed"
                for closed in milestones.group(aid):
                    closed.update(agreement_status=status, is_open=False)
                    milestones.changed(closed)
            else:
                assert hasattr(e, "milestone_id")
                row = milestones.get(aid, e.milestone_id)
                if row is not None and self._change(row, e):
                    milestones.changed(row)
        milestones.write(conn)

    @staticmethod
    def _change(row: Row, e: Agreement.Event) -> bool:
        """Apply one event to a milestone's row; False if the event leaves the row as it is."""
        match e:
            case A.MilestoneCorrected():
                row.update(title=e.title, responsible=e.responsible)
            case A.MilestoneProgressReported():
                row.update(percent=e.percent, status="in_progress", is_open=row["agreement_status"] == "active")
            case A.MilestoneCompleted():
                row.update(status="completed", percent=100, is_open=False, completed_on=e.completed_on,
                           completion_recorded_at=e.timestamp.isoformat(), completion_effective_on=e.effective_on)
            case A.MilestoneRescheduled():
                row.update(due_on=e.due_on, times_rescheduled=row["times_rescheduled"] + 1)
            case A.MilestoneCancelled():
                row.update(status="cancelled", is_open=False)
            case A.MilestoneFlaggedOverdue():
                row["last_flagged_due_on"] = e.due_on
            case A.ReminderSent() if e.outcome == "sent":
                row["reminders_sent"] = row["reminders_sent"] + 1
            case _:
                return False
        return True


_FUNDING_ALLOCATIONS = TableRows(t.funding_allocations, ("agreement_id", "version"))
_DISBURSEMENT = t.funding_disbursements.insert()


class FundingView(View):
    """Allocations by fund and fiscal years, disbursements by value date: the money, exactly."""

    name = "funding"
    tables = (t.funding_allocations, t.funding_disbursements)

    def apply_batch(self, conn: Connection, items: Sequence[Projected]) -> None:
        allocations, disbursements = _FUNDING_ALLOCATIONS.batch(), []
        facts = of_types(items, _MONEY)
        allocations.load(conn, stored(facts, _CORRECTIONS, signed_in(items)))
        for item in facts:
            e, aid = item.event, item.agreement_id
            match e:
                case A.FundingAllocated():
                    allocations.add({
                        "agreement_id": aid, "version": e.originator_version, "agreement_ref": item.ref,
                        "fund": e.fund, "currency": e.currency,
                        "fiscal_years": ",".join(str(y) for y in sorted(e.fiscal_years)), "amount": str(e.amount),
                        "original_amount": str(e.amount), "corrections": 0})
                case A.FundingAllocationCorrected():
                    row = allocations.get(aid, e.corrects_version)
                    if row is not None:
                        row.update(amount=str(e.amount), corrections=row["corrections"] + 1)
                        allocations.changed(row)
                case A.FundingDisbursed():
                    disbursements.append({
                        "agreement_id": aid, "version": e.originator_version, "agreement_ref": item.ref,
                        "currency": e.currency, "value_date": e.value_date, "year": e.value_date.year,
                        "tranche": e.tranche, "amount": str(e.amount)})
                case _:
                    pass
        allocations.write(conn)
        if disbursements:
            conn.execute(_DISBURSEMENT, disbursements)


_PARTY_AGREEMENTS = TableRows(t.party_agreements, ("short_name", "agreement_id"))
_PORTFOLIO_FACTS: EventTypes = frozenset({A.AgreementSigned, A.AgreementExtended, A.ContactAdded, *_CLOSINGS})


class PortfolioView(View):
    """Each party's agreements, with its role in each."""

    name = "portfolio"
    tables = (t.party_agreements,)

    def apply_batch(self, conn: Connection, items: Sequence[Projected]) -> None:
        parties = _PARTY_AGREEMENTS.batch()
        facts = of_types(items, _PORTFOLIO_FACTS)
        parties.load(conn, stored(facts, _PORTFOLIO_FACTS - {A.AgreementSigned}, signed_in(items)))
        for item in facts:
            e, aid = item.event, item.agreement_id
            match e:
                case A.AgreementSigned():
                    for party in e.parties:
                        parties.add({
                            "short_name": party["short_name"], "agreement_id": aid, "agreement_ref": e.ref,
                            "role": party.get("role", ""), "name": plain(party.get("name", {})), "kind": e.kind,
                            "title": dict(e.title), "status": "active", "signed_on": e.signed_on,
                            "ends_on": e.ends_on, "signed_position": item.position, "contacts": 0})
                case A.AgreementExtended():
                    self._update(parties, aid, ends_on=e.ends_on)
                case A.ContactAdded():
                    row = parties.get(e.party, aid)
                    if row is not None:
                        row["contacts"] = row["contacts"] + 1
                        parties.changed(row)
                case A.AgreementTerminated():
                    self._update(parties, aid, status="terminated")
                case A.AgreementCompleted():
                    self._update(parties, aid, status="completed")
                case _:
                    pass
        parties.write(conn)

    @staticmethod
    def _update(parties: BatchRows, aid: str, **changes: Any) -> None:
        for row in parties.group(aid):
            row.update(changes)
            parties.changed(row)


_ACTIVITY_COLUMNS = ("position", "agreement_id", "agreement_ref", "version", "event_type", "recorded_at",
                     "effective_on", "actor", "milestone_id", "summary")
assert set(_ACTIVITY_COLUMNS) == {column.name for column in t.activity.columns}


@cache
def _activity_insert(paramstyle: str) -> str:
    marker = "?" if paramstyle == "qmark" else "%s"
    columns, markers = ", ".join(_ACTIVITY_COLUMNS), ", ".join(marker for _ in _ACTIVITY_COLUMNS)
    return f"INSERT INTO {t.activity.name} ({columns}) VALUES ({markers})"  # noqa: S608 (names from the schema above)


class ActivityView(View):
    """The activity feed for audit: one row per event, newest last, with who recorded it and when.

    The one view that writes a row for every event: its rows go through the driver's own executemany as plain
    tuples, skipping SQLAlchemy's per-row parameter processing (a third of this view's cost). The values are
    already the driver's types: text, integers, and the effective date (ISO text on SQLite, which is how
    SQLAlchemy's Date stores it there; a date on PostgreSQL).
    """

    name = "activity"
    tables = (t.activity,)

    def apply_batch(self, conn: Connection, items: Sequence[Projected]) -> None:
        text_dates = conn.dialect.name == "sqlite"
        rows = [self._row(item, text_dates) for item in items]
        conn.exec_driver_sql(_activity_insert(conn.dialect.paramstyle), rows)

    @staticmethod
    def _row(item: Projected, text_dates: bool) -> tuple[Any, ...]:
        e = item.event
        return (item.position, item.agreement_id, item.ref, e.originator_version, type(e).__name__,
                e.timestamp.isoformat(), e.effective_on.isoformat() if text_dates else e.effective_on, e.actor,
                getattr(e, "milestone_id", None), summary(e))


SUMMARY_SKIPS = frozenset({"title", "parties", "milestone_id"})
_NOT_FACTS = SUMMARY_SKIPS | {"originator_id", "originator_version", "timestamp", "actor", "effective_on", "source",
                              "command_id", "prev_hash", "hash", "originator_topic"}


def summary(event: Agreement.Event) -> str:
    """The facts of an event on one line (metadata left out)."""
    text = ", ".join(f"{k}={v if isinstance(v, str) else plain(v)}" for k, v in vars(event).items()
                     if k not in _NOT_FACTS)
    return text[:500]


def all_views(engine: Engine) -> list[View]:
    return [AgreementsView(engine), MilestonesView(engine), FundingView(engine), PortfolioView(engine),
            ActivityView(engine)]


