"""The read models, wired to the application: the views, their runner, and the reads the service and CLI use."""

from __future__ import annotations

import threading
import time
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import sqlalchemy.exc
from psycopg import sql
from sqlalchemy import Engine

from app.ledger import AgreementLedger, is_postgres, parse_database_url, sqlalchemy_url
from app.settings import Settings
from projections import queries
from projections.database import CONNECTION_NAME, create_views_engine
from projections.runner import Progress, ProjectionRunner
from projections.views import View, all_views


class Listener:
    """LISTEN on the events table's channel; reconnects on the next wait after a dropped connection."""

    def __init__(self, database_url: str, channel: str) -> None:
        self.url = parse_database_url(database_url).set(drivername="postgresql")
        self.channel = channel
        self.connection: psycopg.Connection[Any] | None = None

    def wait(self, timeout: float) -> bool:
        try:
            if self.connection is None or self.connection.closed:
                self.connection = psycopg.connect(self.url.render_as_string(hide_password=False), autocommit=True,
                                                  application_name=CONNECTION_NAME)
                self.connection.execute(sql.SQL("LISTEN {0}").format(sql.Identifier(self.channel)))
            return any(True for _ in self.connection.notifies(timeout=timeout, stop_after=1))
        except psycopg.Error:
            self.close()
            time.sleep(timeout)
            return False

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


class ReadModels:
    """Every view of the agreements, in the event store's own database, and the runner that keeps them current."""

    def __init__(self, settings: Settings, *, ledger: AgreementLedger | None = None) -> None:
        self.settings = settings
        self.zone = ZoneInfo(settings.timezone)
        self._own_ledger = ledger is None
        self.ledger = ledger or AgreementLedger(
            settings.database_url, snapshot_interval=settings.snapshot_interval,
            cache_size=settings.aggregate_cache_size, lock_timeout=settings.sqlite_lock_timeout)
        self.engine: Engine = create_views_engine(sqlalchemy_url(settings.database_url),
                                                  lock_timeout=settings.sqlite_lock_timeout)
        self.views: list[View] = all_views(self.engine)
        self.runner = ProjectionRunner(self.ledger.recorder, self.ledger.mapper, self.views,
                                       application_name=self.ledger.name,
                                       batch_size=settings.projection_batch_size)
        self._catching_up = threading.Lock()
        self._create_tables()

    def _create_tables(self) -> None:
        for attempt in range(3):
            try:
                for view in self.views:
                    view.create_tables()
                return
            except (sqlalchemy.exc.ProgrammingError, sqlalchemy.exc.IntegrityError):
                # Another process created the same tables at the same moment (PostgreSQL); look again.
                if attempt == 2:
                    raise
                time.sleep(0.2)

    def close(self) -> None:
        self.engine.dispose()
        if self._own_ledger:
            self.ledger.close()

    # Keeping up with the log.

    def catch_up(self, stop: int | None = None) -> int:
        """Apply every event stored so far (or up to `stop`); returns how many events were applied."""
        with self._catching_up:
            return self.runner.catch_up(stop)

    def wait_for(self, position: int, timeout: float) -> None:
        """Return once every view reflects the log up to `position`; TimeoutError after `timeout` seconds.

        This process helps: if no other thread of it is catching up, it catches up itself. Otherwise (the
        background runner is at it) it polls with backoff.
        """
        deadline = time.monotonic() + timeout
        pause = 0.01
        while min(self.runner.retrying(self.runner.positions).values()) < position:
            if self._catching_up.acquire(blocking=False):
                try:
                    applied = self.runner.catch_up(stop=position)
                finally:
                    self._catching_up.release()
                if applied:
                    continue
            if time.monotonic() + pause > deadline:
                msg = f"the read models did not reach position {position} within {timeout}s"
                raise TimeoutError(msg)
            time.sleep(pause)
            pause = min(pause * 2, 0.2)

    def status(self) -> list[dict[str, Any]]:
        """Each view's position and lag (events stored but not yet in the view)."""
        return [s.as_dict() for s in self.runner.status()]

    def rebuild(self, progress: Progress | None = None) -> int:
        with self._catching_up:
            return self.runner.rebuild(progress)

    def run(self, stop: threading.Event, poll_seconds: float) -> None:
        """Tail the log until `stop` is set (the `projections run` command). On PostgreSQL it wakes on the
        NOTIFY the library's recorder sends with every insert, and polls as well in case a notification is lost."""
        if not is_postgres(self.settings.database_url):
            self.runner.run(stop, poll_seconds)
            return
        listener = Listener(self.settings.database_url, self.ledger.events_table.replace(".", "_"))
        try:
            self.runner.run(stop, poll_seconds, wake=listener.wait)
        finally:
            listener.close()

    # Reads.

    def overdue(self, as_of: date) -> list[queries.OverdueMilestone]:
        with self.engine.connect() as conn:
            return queries.overdue(conn, as_of)

    def open_milestones(self, due_from: date, due_to: date) -> list[queries.OpenMilestone]:
        with self.engine.connect() as conn:
            return queries.open_milestones(conn, due_from, due_to)

    def list_agreements(self, today: date | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return queries.agreement_summaries(conn, today or self.today())

    def portfolio(self, short_name: str, today: date | None = None) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            return queries.portfolio(conn, short_name, today or self.today(), self.zone)

    def milestones(self, agreement_ref: str) -> list[queries.MilestoneRecord]:
        with self.engine.connect() as conn:
            return queries.milestones_of(conn, agreement_ref=agreement_ref)

    def funding(self) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return queries.funding_by_fund_and_year(conn)

    def activity(self, agreement_ref: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            return queries.activity(conn, agreement_ref, limit)

    def today(self) -> date:
        return datetime.now(tz=self.zone).date()
