"""Positions of the read models: the library's TrackingRecorder interface on one SQLAlchemy table, one row per view."""

from __future__ import annotations

from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.dialects import postgresql, sqlite

from projections.database import writer
from projections.tables import tracking


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
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        statement = insert(tracking).values(
            view_name=self.view_name, application_name=record.application_name,
            notification_id=record.notification_id,
        )
        upsert = statement.on_conflict_do_update(
            index_elements=[tracking.c.view_name, tracking.c.application_name],
            set_={"notification_id": statement.excluded.notification_id},
            where=tracking.c.notification_id < statement.excluded.notification_id,
        ).returning(tracking.c.notification_id)
        if conn.execute(upsert).first() is None:
            msg = f"{self.view_name} has already processed {record.application_name} {record.notification_id}"
            raise IntegrityError(msg)

    def max_tracking_id(self, application_name: str) -> int | None:
        with self.engine.connect() as conn:
            return self._max_tracking_id(conn, application_name)

    def _max_tracking_id(self, conn: Connection, application_name: str) -> int | None:
        position = conn.execute(
            select(func.max(tracking.c.notification_id)).where(
                tracking.c.view_name == self.view_name, tracking.c.application_name == application_name)
        ).scalar()
        return None if position is None else int(position)

    def _delete_tracking(self, conn: Connection) -> None:
        conn.execute(tracking.delete().where(tracking.c.view_name == self.view_name))
