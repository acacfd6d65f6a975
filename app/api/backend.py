"""What the API and the web UI stand on: the service, the users, the read models and the scheduler, if present.

The read models (projections) and the scheduler are built by other parts of the project; this module reaches
them through small Protocols and falls back to reading the event store when the read models are absent.
"""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
import threading
from datetime import date, datetime
from typing import Any, Protocol

import psycopg
from eventsourcing.domain import EventSourcingError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.audit import verify_store
from app.service import CommitmentService, WriteResult
from app.settings import Settings
from app.users import UserStore
from domain.chain import plain

log = logging.getLogger(__name__)

# What a lost or broken database connection raises, through the library, SQLAlchemy or the drivers themselves.
DATABASE_ERRORS: tuple[type[Exception], ...] = (EventSourcingError, SQLAlchemyError, sqlite3.Error, psycopg.Error,
                                                OSError, TimeoutError)


class ReadModelsLike(Protocol):
    """The projections' ReadModels, as far as the API uses them."""

    def catch_up(self) -> int: ...
    def wait_for(self, position: int, timeout: float) -> None: ...
    def overdue(self, as_of: date) -> list[Any]: ...
    def status(self) -> list[dict[str, Any]]: ...


class SchedulerLike(Protocol):
    """The reminder scheduler, as far as `serve` and /healthz use it."""

    last_sweep: datetime | None

    def start(self) -> None: ...
    def shutdown(self) -> None: ...


@dataclasses.dataclass
class Backend:
    """One per app: built from the settings, closed when the app stops."""

    settings: Settings
    service: CommitmentService
    users: UserStore
    scheduler: SchedulerLike | None = None
    last_position: int = 0
    _lock: threading.Lock = dataclasses.field(default_factory=threading.Lock, repr=False)

    @classmethod
    def build(cls, settings: Settings) -> Backend:
        service = CommitmentService(settings)
        return cls(settings=settings, service=service, users=UserStore(settings.database_url))

    def close(self) -> None:
        self.users.close()
        self.service.close()

    def views(self) -> ReadModelsLike:
        """The projections' read models."""
        return self.service.views

    def written(self, result: WriteResult) -> WriteResult:
        """After a write: remember its position. The write answers at once; every read that uses the read
        models first brings them up to the head of the log (at least this position), so it sees the write."""
        with self._lock:
            self.last_position = max(self.last_position, result.position)
        return result

    def _wait_views(self, position: int) -> None:
        if position:
            try:
                self.views().wait_for(position, self.settings.read_wait_seconds)
            except TimeoutError:
                log.warning("read models did not reach position %s within %ss", position, self.settings.read_wait_seconds)

    def overdue(self, as_of: date) -> list[dict[str, Any]]:
        """Open milestones past due on `as_of`, from the read models."""
        # Everything committed before this read, by this process or another, is in the answer.
        self._wait_views(max(self.last_position, self.service.max_position()))
        rows = [dataclasses.asdict(row) for row in self.views().overdue(as_of)]
        return [plain(row) for row in rows]  # type: ignore[misc]

    def verify(self) -> dict[str, Any]:
        """The audit's verification of every hash chain, recomputed from the stored rows."""
        return verify_store(self.service).as_dict()

    def health(self) -> dict[str, Any]:
        database = "ok"
        try:
            with self.users.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            position = self.service.max_position()
        except DATABASE_ERRORS as e:  # the database is not ok: say so, do not raise
            database = f"error: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
            position = None
        projections: list[dict[str, Any]] = []
        if database == "ok":
            try:
                projections = [dict(plain(s)) for s in self.views().status()]  # type: ignore[arg-type]
            except DATABASE_ERRORS as e:  # a failing projection is reported, not raised
                projections = [{"name": "read-models", "position": None, "lag": None, "error": str(e).splitlines()[0]}]
        lags = [int(p["lag"]) for p in projections if isinstance(p.get("lag"), int)]
        return {
            "status": "ok" if database == "ok" else "error",
            "database": database,
            "position": position,
            "projections": projections,
            "projection_lag": max(lags) if lags else (0 if database == "ok" else None),
            "scheduler": {
                "running": self.scheduler is not None,
                "last_sweep": _iso(getattr(self.scheduler, "last_sweep", None)),
            },
        }


def _iso(moment: object) -> str | None:
    return moment.isoformat() if isinstance(moment, datetime) else None
