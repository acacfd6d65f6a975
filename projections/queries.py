"""Reads on the views (pure SQLAlchemy Core): overdue and upcoming milestones, agreements, portfolios, funding."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, String, bindparam, select, type_coerce

from projections import tables as t


@dataclass(frozen=True)
class OverdueMilestone:
    agreement_ref: str
    milestone_id: str
    title: str
    due_on: date
    days_overdue: int
    responsible: str


@dataclass(frozen=True)
class OpenMilestone:
    agreement_ref: str
    milestone_id: str
    title: str
    due_on: date
    responsible: str
    status: str


m = t.milestones
_ORDER = (m.c.due_on, m.c.agreement_ref, m.c.milestone_id)


# Built once. The due date is read as it comes from the driver: SQLite's dialect would parse every date with a
# regular expression, and date.fromisoformat is several times cheaper on the thousands of rows this can return.
_OVERDUE = (select(m.c.agreement_ref, m.c.milestone_id, m.c.title, type_coerce(m.c.due_on, String), m.c.responsible)
            .where(m.c.is_open.is_(True), m.c.due_on < bindparam("as_of", type_=m.c.due_on.type))
            .order_by(*_ORDER))


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


_OVERDUE_SQL: dict[str, str] = {}


def overdue(conn: Connection, as_of: date) -> list[OverdueMilestone]:
    """Open milestones of active agreements that were due before `as_of`, oldest first.

    The scheduler's and the dashboard's hot query. Its rows are read through the driver's own cursor, as plain
    tuples: building SQLAlchemy's Row objects for them cost more than the query itself (bench/RESULTS.md).
    """
    dialect = conn.dialect
    sql = _OVERDUE_SQL.get(dialect.name)
    if sql is None:
        sql = _OVERDUE_SQL[dialect.name] = str(_OVERDUE.compile(dialect=dialect))
    # The one parameter as each driver takes it: SQLite holds dates as ISO text (SQLAlchemy's Date there).
    params: tuple[str] | dict[str, date] = (as_of.isoformat(),) if dialect.paramstyle == "qmark" else {"as_of": as_of}
    cursor = conn.connection.cursor()
    try:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    finally:
        cursor.close()
    found = []
    for ref, milestone_id, title, due, responsible in rows:
        due_on = _as_date(due)
        found.append(OverdueMilestone(ref, milestone_id, title, due_on, (as_of - due_on).days, responsible))
    return found


def open_milestones(conn: Connection, due_from: date, due_to: date) -> list[OpenMilestone]:
    """Open milestones of active agreements due between the two dates (both included)."""
    rows = conn.execute(select(m.c.agreement_ref, m.c.milestone_id, m.c.title, m.c.due_on, m.c.responsible, m.c.status)
                        .where(m.c.is_open.is_(True), m.c.due_on >= due_from, m.c.due_on <= due_to)
                        .order_by(*_ORDER))
    return [OpenMilestone(r.agreement_ref, r.milestone_id, r.title, r.due_on, r.responsible, r.status) for r in rows]


def agreement_summaries(conn: Connection, today: date) -> list[dict[str, Any]]:
    """One row per agreement in signing order, in the shape of the service's agreement summary."""
    a, f = t.agreements, t.agreement_funding
    funding: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for row in conn.execute(select(f).order_by(f.c.agreement_id, f.c.currency)):
        funding[row.agreement_id][row.currency] = (row.allocated, row.disbursed)
    return [_summary(row._mapping, funding[row.agreement_id], today)
            for row in conn.execute(select(a).order_by(a.c.signed_position))]


def _summary(row: Any, funding: dict[str, tuple[str, str]], today: date) -> dict[str, Any]:
    due = sorted((date.fromisoformat(d), mid) for mid, d in row["open_milestones"].items())
    upcoming = [(d, mid) for d, mid in due if d >= today]
    currencies = sorted(funding)
    return {
        "ref": row["ref"], "kind": row["kind"], "status": row["status"], "title": row["title"],
        "signed_on": row["signed_on"].isoformat(), "ends_on": row["ends_on"].isoformat(),
        "allocated": {c: funding[c][0] for c in currencies},
        "disbursed": {c: funding[c][1] for c in currencies},
        "milestones_open": len(due),
        # Only an active agreement's milestones can be overdue (as in the domain and the overdue query).
        "overdue_count": sum(1 for d, _ in due if d < today) if row["status"] == "active" else 0,
        "next_due": {"milestone_id": upcoming[0][1], "due_on": upcoming[0][0].isoformat()} if upcoming else None,
        "version": row["version"],
    }


@dataclass(frozen=True)
class MilestoneRecord:
    """A milestone as the milestones view holds it, with both dates of a completion."""

    agreement_ref: str
    milestone_id: str
    title: str
    responsible: str
    status: str
    due_on: date
    original_due_on: date
    percent: int
    completed_on: date | None
    completion_recorded_at: datetime | None

    def completed_on_time(self) -> bool | None:
        return None if self.completed_on is None else self.completed_on <= self.due_on

    def reported_late(self, zone: ZoneInfo) -> bool | None:
        """Completed on time but recorded after the due date (in `zone`): on time, reported late."""
        if self.completed_on is None or self.completion_recorded_at is None:
            return None
        return self.completion_recorded_at.astimezone(zone).date() > self.due_on


def milestones_of(conn: Connection, agreement_ref: str | None = None, responsible: str | None = None) -> list[MilestoneRecord]:
    query = select(m).order_by(*_ORDER)
    if agreement_ref is not None:
        query = query.where(m.c.agreement_ref == agreement_ref)
    if responsible is not None:
        query = query.where(m.c.responsible == responsible)
    return [MilestoneRecord(r.agreement_ref, r.milestone_id, r.title, r.responsible, r.status, r.due_on,
                            r.original_due_on, r.percent, r.completed_on,
                            datetime.fromisoformat(r.completion_recorded_at) if r.completion_recorded_at else None)
            for r in conn.execute(query)]


def portfolio(conn: Connection, short_name: str, today: date, zone: ZoneInfo) -> dict[str, Any] | None:
    """One party's agreements and the milestones it is responsible for; None for a party on no agreement."""
    p = t.party_agreements
    agreements = conn.execute(select(p).where(p.c.short_name == short_name).order_by(p.c.signed_position)).all()
    if not agreements:
        return None
    milestones = milestones_of(conn, responsible=short_name)
    open_ones = [r for r in milestones if r.status in ("planned", "in_progress")]
    active = {a.agreement_ref for a in agreements if a.status == "active"}
    return {
        "party": short_name,
        "name": agreements[0].name,
        "agreements": [{"ref": a.agreement_ref, "role": a.role, "kind": a.kind, "status": a.status,
                        "title": a.title, "signed_on": a.signed_on.isoformat(), "ends_on": a.ends_on.isoformat()}
                       for a in agreements],
        "milestones": [{"agreement_ref": r.agreement_ref, "milestone_id": r.milestone_id, "title": r.title,
                        "status": r.status, "due_on": r.due_on.isoformat(), "percent": r.percent,
                        "completed_on": r.completed_on.isoformat() if r.completed_on else None,
                        "overdue": r.agreement_ref in active and r in open_ones and r.due_on < today,
                        "reported_late": r.reported_late(zone)}
                       for r in milestones],
        "milestones_open": len(open_ones),
        "overdue_count": sum(1 for r in open_ones if r.agreement_ref in active and r.due_on < today),
    }


def funding_by_fund_and_year(conn: Connection) -> list[dict[str, Any]]:
    """Allocated money per fund, fiscal years and currency; disbursed money per value-date year and currency."""
    a, d = t.funding_allocations, t.funding_disbursements
    allocated: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    for row in conn.execute(select(a.c.fund, a.c.fiscal_years, a.c.currency, a.c.amount)):
        allocated[(row.fund, row.fiscal_years, row.currency)] += Decimal(row.amount)
    disbursed: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for row in conn.execute(select(d.c.year, d.c.currency, d.c.amount)):
        disbursed[(row.year, row.currency)] += Decimal(row.amount)
    return ([{"kind": "allocated", "fund": fund, "fiscal_years": years, "currency": cur, "amount": str(total)}
             for (fund, years, cur), total in sorted(allocated.items())]
            + [{"kind": "disbursed", "year": year, "currency": cur, "amount": str(total)}
               for (year, cur), total in sorted(disbursed.items())])


def activity(conn: Connection, agreement_ref: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The latest events, newest first."""
    v = t.activity
    query = select(v).order_by(v.c.position.desc()).limit(limit)
    if agreement_ref is not None:
        query = query.where(v.c.agreement_ref == agreement_ref)
    return [{"position": r.position, "agreement_ref": r.agreement_ref, "version": r.version, "type": r.event_type,
             "recorded_at": r.recorded_at, "effective_on": r.effective_on.isoformat(), "actor": r.actor,
             "milestone_id": r.milestone_id, "summary": r.summary} for r in conn.execute(query)]
