"""The projection runner: pulls notifications in batches from the views' tracked positions and applies them.

Why a runner of our own: eventsourcing 9.5 has no subscriptions on SQLite, so the library's ProjectionRunner
cannot run there. This one works the same on both stores, by polling `select_notifications`.

Events committed out of id order: never skipped. On SQLite one writer at a time assigns rowids and commits, so
ids commit in order. On PostgreSQL the library's recorder locks the events table (EXCLUSIVE mode) for each insert
until its transaction ends, so an id is only visible once every smaller id is committed or rolled back for good.
A gap (an id taken by a rolled-back insert) is therefore never filled later, and stepping over it is safe. Events
must only ever be written through the library's recorder.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from uuid import UUID

import sqlalchemy.exc
from eventsourcing import persistence as es
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification, Tracking
from sqlalchemy import select

from domain.agreement import Agreement
from projections.tables import tracking
from projections.views import Projected, View

log = logging.getLogger(__name__)

T = TypeVar("T")

RETRYABLE: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError, es.OperationalError, es.InterfaceError,
)
"""Errors of a dropped connection or a busy database: worth trying again on a fresh connection."""

RUN_ERRORS: tuple[type[BaseException], ...] = (*RETRYABLE, sqlalchemy.exc.DBAPIError, es.PersistenceError)
"""What the tailing loop survives (after the retries are spent): it logs, waits and tries again."""

Wake = Callable[[float], bool]
"""Blocks for at most the given seconds; returns True early when new events may have been stored."""

Progress = Callable[[int, int], None]
"""Called after each batch with (position reached, target position)."""


@dataclass(frozen=True)
class ViewStatus:
    name: str
    position: int
    lag: int

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "position": self.position, "lag": self.lag}


class ProjectionRunner:
    """Keeps a set of views up to date with one application's notification log."""

    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[UUID], views: Sequence[View], *,
                 application_name: str, batch_size: int = 500, retries: int = 8, retry_wait: float = 0.25) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.views = list(views)
        engines = {id(v.engine) for v in self.views}
        if len(engines) != 1:
            msg = "the views of one runner must share one engine (they are written in one transaction)"
            raise ValueError(msg)
        self.engine = self.views[0].engine
        self.writer = self.views[0].writer
        self.application_name = application_name
        self.batch_size = batch_size
        self.retries = retries
        self.retry_wait = retry_wait
        self._refs: dict[UUID, str] = {}

    def positions(self) -> dict[str, int]:
        """Each view's position, read in one query."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(tracking.c.view_name, tracking.c.notification_id).where(
                tracking.c.application_name == self.application_name)).all()
        found = {row.view_name: int(row.notification_id) for row in rows}
        return {v.name: found.get(v.name, 0) for v in self.views}

    def max_position(self) -> int:
        return self.recorder.max_notification_id() or 0

    def status(self) -> list[ViewStatus]:
        positions = self.retrying(self.positions)
        head = self.retrying(self.max_position)
        return [ViewStatus(name, position, max(head - position, 0)) for name, position in positions.items()]

    def catch_up(self, stop: int | None = None, progress: Progress | None = None) -> int:
        """Apply every event up to `stop` (default: the last one stored now). Returns the number of events applied."""
        head = self.retrying(self.max_position)
        target = head if stop is None else min(stop, head)
        applied = 0
        while True:
            positions = self.retrying(self.positions)
            slowest = min(positions.values(), default=target)
            if progress is not None:
                progress(slowest, target)
            if slowest >= target:
                return applied
            done = self.retrying(partial(self._apply_batch, positions, slowest, target))
            if not done:
                return applied
            applied += done

    def _apply_batch(self, positions: dict[str, int], slowest: int, target: int) -> int:
        notifications = self.recorder.select_notifications(slowest + 1, self.batch_size, stop=target)
        if not notifications:
            return 0
        items = [self._project(n) for n in notifications]
        last = notifications[-1].id
        record = Tracking(self.application_name, last)
        # Every view in one transaction (one commit, one fsync), each with its own tracking row. A view that
        # another runner moved meanwhile applies only what it has not seen (see View.process_in).
        with self.writer.begin() as conn:
            for view in self.views:
                view.process_in(conn, items, record, since=positions[view.name])
        return len(notifications)

    def _project(self, notification: Notification) -> Projected:
        event = self.mapper.to_domain_event(notification)
        if not isinstance(event, Agreement.Event):
            msg = f"notification {notification.id} is a {type(event).__name__}, not an agreement event"
            raise TypeError(msg)
        return Projected(notification.id, self._ref_of(event), event)

    def _ref_of(self, event: Agreement.Event) -> str:
        if isinstance(event, Agreement.AgreementSigned):
            self._refs[event.originator_id] = event.ref
        ref = self._refs.get(event.originator_id)
        if ref is None:
            # The reference is only in the agreement's first event; an agreement's id never changes its ref.
            first = self.recorder.select_events(event.originator_id, lte=1, limit=1)
            signed = self.mapper.to_domain_event(first[0])
            assert isinstance(signed, Agreement.AgreementSigned)
            ref = self._refs[event.originator_id] = signed.ref
        return ref

    def retrying(self, operation: Callable[[], T]) -> T:
        """Run `operation`, trying again on a dropped connection or a locked database, with backoff."""
        for attempt in range(self.retries):
            try:
                return operation()
            except RETRYABLE as e:
                wait = min(self.retry_wait * 2 ** attempt, 5.0)
                log.warning("projections: %s; retrying in %.2fs", str(e).splitlines()[0] if str(e) else e, wait)
                time.sleep(wait)
        return operation()

    def rebuild(self, progress: Progress | None = None) -> int:
        """Drop every view's tables and position, recreate them, and apply every event from the start.

        Each view is reset in one transaction, so a rebuild stopped midway leaves views that are merely behind:
        running the rebuild again (or a plain catch-up) ends with the same rows.
        """
        for view in self.views:
            self.retrying(view.reset)
        return self.catch_up(progress=progress)

    def run(self, stop: threading.Event, poll_seconds: float = 0.5, wake: Wake | None = None) -> None:
        """Tail the log until `stop` is set. A failure is logged and retried: the runner never stalls silently.

        When idle it waits `poll_seconds`, or less if `wake` (e.g. PostgreSQL's LISTEN) says events arrived.
        """
        while not stop.is_set():
            try:
                applied = self.catch_up()
            except RUN_ERRORS as e:
                log.error("projections: catch-up failed (%s); retrying", str(e).splitlines()[0] if str(e) else e)
                applied = 0
            if not applied:
                self._idle(stop, poll_seconds, wake)

    @staticmethod
    def _idle(stop: threading.Event, seconds: float, wake: Wake | None) -> None:
        if wake is None:
            stop.wait(seconds)
            return
        deadline = time.monotonic() + seconds
        # In short slices, so that a stop request is honoured promptly.
        while not stop.is_set() and (remaining := deadline - time.monotonic()) > 0:
            if wake(min(remaining, 0.5)):
                return
