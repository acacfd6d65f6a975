"""APScheduler 3.11 wiring: a leader-only BackgroundScheduler that runs the sweep at start-up and on an interval."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Protocol

from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore  # type: ignore[import-untyped]
from apscheduler.schedulers.background import BackgroundScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]
from sqlalchemy.engine import URL
from sqlalchemy.exc import SQLAlchemyError

from scheduler.sweep import SweepReport

JOB_ID = "commitments-reminder-sweep"
JOBS_TABLE = "commitments_scheduler_jobs"
log = logging.getLogger("commitments.scheduler")

_ACTIVE: dict[str, ReminderScheduler] = {}
"""The live schedulers of this process, by instance id: the stored job names one of these, not a pickled object."""


def run_registered_sweep(instance: str) -> None:
    """The job APScheduler stores (by reference): sweep with the scheduler that registered `instance`.

    A job left in the store by a process that has since died names an instance that is not here; it does nothing,
    and the new leader replaces it under the same job id.
    """
    scheduler = _ACTIVE.get(instance)
    if scheduler is not None:
        scheduler.sweep_now()


class ClosableLock(Protocol):
    def acquire(self, wait_seconds: float = 0.0) -> bool: ...
    def held(self) -> bool: ...
    def release(self) -> None: ...
    def close(self) -> None: ...


class SerialLock:
    """The leader lock, used from the supervisor and the job threads one call at a time (its connection is not
    thread-safe)."""

    def __init__(self, lock: ClosableLock) -> None:
        self._lock = lock
        self._mutex = threading.Lock()

    def acquire(self, wait_seconds: float = 0.0) -> bool:
        with self._mutex:
            return self._lock.acquire(wait_seconds)

    def held(self) -> bool:
        with self._mutex:
            return self._lock.held()

    def release(self) -> None:
        with self._mutex:
            self._lock.release()

    def close(self) -> None:
        with self._mutex:
            self._lock.close()


SweepJob = Callable[[SerialLock], SweepReport]


class ReminderScheduler:
    """Runs `sweep_job` while this process is the leader; stands by (retrying the lock) while another one is.

    `start()` returns at once; `shutdown()` waits for a running sweep to finish and lets go of the lock.
    `last_sweep` is when the last sweep finished (None before the first), for health checks.
    """

    def __init__(self, sweep_job: SweepJob, *, jobstore_url: URL, lock: ClosableLock, timezone: tzinfo,
                 interval_seconds: float, standby_poll_seconds: float = 15.0) -> None:
        self.sweep_job = sweep_job
        self.jobstore_url = jobstore_url
        self.lock = SerialLock(lock)
        self.timezone = timezone
        self.interval_seconds = interval_seconds
        self.standby_poll_seconds = standby_poll_seconds
        self.instance = uuid.uuid4().hex
        self.last_sweep: datetime | None = None
        self.last_report: SweepReport | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._sweeping = threading.Lock()

    @property
    def is_leader(self) -> bool:
        return self._scheduler is not None

    def start(self) -> None:
        _ACTIVE[self.instance] = self
        self._stopping.clear()
        self._supervise_once()
        self._supervisor = threading.Thread(target=self._supervise, name="commitments-scheduler", daemon=True)
        self._supervisor.start()

    def shutdown(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
            self._supervisor = None
        self._step_down()
        self.lock.close()
        _ACTIVE.pop(self.instance, None)

    def sweep_now(self) -> SweepReport:
        """One sweep, now (the job calls this; so can a caller that wants a sweep without waiting)."""
        with self._sweeping:
            report = self.sweep_job(self.lock)
            self.last_report = report
            self.last_sweep = datetime.now(tz=self.timezone)
        log.info("swept as of %s: %d flagged, %d reminder(s) recorded, %d deferred", report.as_of,
                 len(report.flagged), len(report.reminders), report.deferred)
        return report

    def _supervise(self) -> None:
        while not self._stopping.wait(self.standby_poll_seconds):
            self._supervise_once()

    def _supervise_once(self) -> None:
        try:
            if self._scheduler is None:
                if self.lock.acquire(0):
                    self._become_leader()
            elif not self.lock.held():
                log.error("scheduler lock lost; standing by until it can be taken again")
                self._step_down()
        except SQLAlchemyError as e:
            # The database is unreachable (the job store could not start): stand by and try again next poll,
            # rather than hold the lock with no scheduler or let this thread die silently.
            log.error("scheduler cannot run: %s", str(e).strip().splitlines()[0])
            self._scheduler = None
            self.lock.release()

    def _become_leader(self) -> None:
        scheduler = BackgroundScheduler(
            jobstores={"default": SQLAlchemyJobStore(url=self.jobstore_url, tablename=JOBS_TABLE,
                                                     engine_options=_engine_options(self.jobstore_url))},
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
            timezone=self.timezone,
        )
        # Added before start(), so it replaces a job a dead leader left in the store before that one could fire.
        # `next_run_time=now` is the start-up sweep: whatever came due while no scheduler ran is sent now.
        scheduler.add_job(
            run_registered_sweep, IntervalTrigger(seconds=self.interval_seconds, timezone=self.timezone),
            args=[self.instance], id=JOB_ID, name="flag overdue milestones and send reminders",
            replace_existing=True, coalesce=True, misfire_grace_time=None, max_instances=1,
            next_run_time=datetime.now(tz=self.timezone),
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info("scheduler active: sweeping every %s s", self.interval_seconds)

    def _step_down(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=True)
            self._scheduler = None
        self.lock.release()


def _engine_options(url: URL) -> dict[str, object]:
    # On SQLite the job store shares the file with busy event writers: wait for the write lock as they do.
    return {"connect_args": {"timeout": 30}} if url.get_backend_name() == "sqlite" else {"pool_pre_ping": True}
