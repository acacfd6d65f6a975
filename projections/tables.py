"""The read models' tables (SQLAlchemy 2 Core), in the same database as the events.

Money is stored as text (the exact `str` of a Decimal), never as a float: SQLite has no exact decimal type.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Column, Date, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

Amount = String(64)
Instant = String(40)
"""A moment as ISO 8601 text with its UTC offset: SQLite would drop the offset of a DateTime."""
Ref = String(200)
Short = String(100)

tracking = Table(
    "projection_tracking", metadata,
    Column("view_name", Short, primary_key=True),
    Column("application_name", Short, primary_key=True),
    Column("notification_id", BigInteger, nullable=False),
)

agreements = Table(
    "view_agreements", metadata,
    Column("agreement_id", String(32), primary_key=True),
    Column("ref", Ref, nullable=False, unique=True),
    Column("signed_position", BigInteger, nullable=False),
    Column("kind", Short, nullable=False),
    Column("status", Short, nullable=False),
    Column("title", JSON, nullable=False),
    Column("parties", JSON, nullable=False),
    Column("signed_on", Date, nullable=False),
    Column("place", Text, nullable=False),
    Column("occasion", Text, nullable=False),
    Column("parent_ref", Ref),
    Column("starts_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("beneficiaries", JSON, nullable=False),
    # Open milestones as {milestone_id: due_on ISO date}: the next due and the overdue count depend on the day
    # they are asked about, so they are computed from this at query time.
    Column("open_milestones", JSON, nullable=False),
    Column("closed_on", Date),
    Column("version", Integer, nullable=False),
    Column("last_recorded_at", Instant, nullable=False),
)

agreement_funding = Table(
    "view_agreement_funding", metadata,
    Column("agreement_id", String(32), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("allocated", Amount, nullable=False),
    Column("disbursed", Amount, nullable=False),
)

agreement_allocations = Table(
    "view_agreement_allocations", metadata,
    Column("agreement_id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("amount", Amount, nullable=False),
)

milestones = Table(
    "view_milestones", metadata,
    Column("agreement_id", String(32), primary_key=True),
    Column("milestone_id", Short, primary_key=True),
    Column("agreement_ref", Ref, nullable=False),
    # True while the milestone is planned or in progress and its agreement is active: what can be overdue.
    Column("is_open", Boolean, nullable=False),
    Column("agreement_status", Short, nullable=False),
    Column("title", Text, nullable=False),
    Column("kind", Short, nullable=False),
    Column("responsible", Short, nullable=False),
    Column("status", Short, nullable=False),
    Column("due_on", Date, nullable=False),
    Column("original_due_on", Date, nullable=False),
    Column("times_rescheduled", Integer, nullable=False),
    Column("percent", Integer, nullable=False),
    Column("completed_on", Date),
    Column("completion_recorded_at", Instant),
    Column("completion_effective_on", Date),
    Column("last_flagged_due_on", Date),
    Column("reminders_sent", Integer, nullable=False),
    Column("planned_position", BigInteger, nullable=False),
    Index("ix_view_milestones_open_due", "is_open", "due_on"),
    # On SQLite the overdue query is answered from this index alone, without a lookup per row. PostgreSQL keeps
    # the narrow index above: a btree entry there must stay under ~2.7 kB, and a title may be longer.
    Index("ix_view_milestones_overdue_covering", "is_open", "due_on", "agreement_ref", "milestone_id", "title",
          "responsible").ddl_if(dialect="sqlite"),
    Index("ix_view_milestones_responsible", "responsible"),
)

funding_allocations = Table(
    "view_funding_allocations", metadata,
    Column("agreement_id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("agreement_ref", Ref, nullable=False),
    Column("fund", Text, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("fiscal_years", String(200), nullable=False),
    Column("amount", Amount, nullable=False),
    Column("original_amount", Amount, nullable=False),
    Column("corrections", Integer, nullable=False),
)

funding_disbursements = Table(
    "view_funding_disbursements", metadata,
    Column("agreement_id", String(32), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("agreement_ref", Ref, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("value_date", Date, nullable=False),
    Column("year", Integer, nullable=False),
    Column("tranche", Text, nullable=False),
    Column("amount", Amount, nullable=False),
)

party_agreements = Table(
    "view_party_agreements", metadata,
    Column("short_name", Short, primary_key=True),
    Column("agreement_id", String(32), primary_key=True),
    Column("agreement_ref", Ref, nullable=False),
    Column("role", Short, nullable=False),
    Column("name", JSON, nullable=False),
    Column("kind", Short, nullable=False),
    Column("title", JSON, nullable=False),
    Column("status", Short, nullable=False),
    Column("signed_on", Date, nullable=False),
    Column("ends_on", Date, nullable=False),
    Column("signed_position", BigInteger, nullable=False),
    Column("contacts", Integer, nullable=False),
)

activity = Table(
    "view_activity", metadata,
    Column("position", BigInteger, primary_key=True),
    Column("agreement_id", String(32), nullable=False),
    Column("agreement_ref", Ref, nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_type", Short, nullable=False),
    Column("recorded_at", Instant, nullable=False),
    Column("effective_on", Date, nullable=False),
    Column("actor", Text, nullable=False),
    Column("milestone_id", Short),
    Column("summary", Text, nullable=False),
    Index("ix_view_activity_agreement", "agreement_id", "version"),
)
