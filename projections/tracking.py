"""Positions of the read models: the library's TrackingRecorder interface on one SQLAlchemy table, one row per view."""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from sqlalchemy import Connection, Engine, bindparam, func, select, text

from projections.database import writer
from projections.tables import tracking

# An upsert that only moves forward, in the SQL that SQLite (3.35+) and PostgreSQL share. Written as text because
# SQLAlchemy compiles its dialect-specific ON CONFLICT constructs afresh on every execution (they have no cache key).
_UPSERT = text(
    "INSERT INTO projection_tracking (view_name, application_name, notification_id)"
    " VALUES (:view, :application, :position)"
    " ON CONFLICT (view_name, application_name) DO UPDATE SET notification_id = excluded.notification_id"
    " WHERE projection_tracking.notification_id < excluded.notification_id"
    " RETURNING notification_id"
)
_POSITION = select(func.max(tracking.c.notification_id)).where(
    tracking.c.view_name == bindparam("view"), tracking.c.application_name == bindparam("application"))


class SqlTrackingRecorder(TrackingRecorder):
    """Records how far one view has got in an application's notification log.

    One row per (view, application). A tracking record only moves forward: recording a position at or behind the
    one already recorded raises the library's IntegrityError, so an event can never take effect twice. Views write
    their rows and this record in one transaction (see `_insert_tracking`).
    """

    def __init__(self, engine: Engine, view_name: str) -> None:
        self.engine = engine
        self.writer = writer(engine)
        self.view_name = view_name

    def create_table(self) -> None:
        tracking.create(self.writer, checkfirst=True)

    def insert_tracking(self, tracking: Tracking) -> None:
        with self.writer.begin() as conn:
            self._insert_tracking(conn, tracking)

    def _insert_tracking(self, conn: Connection, record: Tracking) -> None:
        # An upsert that only moves forward. On PostgreSQL a second runner doing the same batch waits on this row's
        # lock, then finds the condition false and rolls back; on SQLite the write lock already serialises them.
        params = {"view": self.view_name, "application": record.application_name, "position": record.notification_id}
        if conn.execute(_UPSERT, params).first() is None:
            msg = f"{self.view_name} has already processed {record.application_name} {record.notification_id}"
            raise IntegrityError(msg)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.engine.connect() as conn:
            return self._max_tracking_id(conn, application_name)

    def _max_tracking_id(self, conn: Connection, application_name: str) -> int | None:
        position = conn.execute(_POSITION, {"view": self.view_name, "application": application_name}).scalar()
        return None if position is None else int(position)

    def _delete_tracking(self, conn: Connection) -> None:
        conn.execute(tracking.delete().where(tracking.c.view_name == self.view_name))
