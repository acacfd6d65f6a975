"""One active scheduler at a time: a PostgreSQL advisory lock, or on SQLite an flock on a file next to the db."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import socket
import time
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

LOCK_NAME = b"commitments.scheduler"
POLL_SECONDS = 0.2
log = logging.getLogger("commitments.scheduler")


def advisory_key(name: bytes = LOCK_NAME) -> int:
    """A stable signed 64-bit key for pg_advisory_lock, derived from the lock's name."""
    return int.from_bytes(hashlib.sha256(name).digest()[:8], "big", signed=True)


class PostgresAdvisoryLock:
    """A session-level advisory lock, held by a dedicated connection for as long as this scheduler is active.

    If that connection drops, PostgreSQL releases the lock; `held()` then answers False and the holder stops.
    Advisory locks are per database, so schedulers of different databases do not meet.
    """

    def __init__(self, url: URL) -> None:
        self.engine = create_engine(url, poolclass=NullPool)
        self.key = advisory_key()
        self._connection: Connection | None = None

    def acquire(self, wait_seconds: float = 0.0) -> bool:
        deadline = time.monotonic() + wait_seconds
        while True:
            if self._try():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)

    def _try(self) -> bool:
        try:
            if self._connection is None:
                self._connection = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = self._connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}).scalar_one()
        except DBAPIError as e:
            # The database is unreachable: not the leader now; the caller tries again later.
            log.warning("cannot take the scheduler lock: %s", str(e).strip().splitlines()[0])
            self._drop()
            return False
        return bool(got)

    def held(self) -> bool:
        if self._connection is None:
            return False
        try:
            count = self._connection.execute(text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
            )).scalar_one()
        except DBAPIError:
            self._drop()
            return False
        return int(count) > 0

    def release(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):  # If the session is gone, its lock went with it.
                self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
            self._drop()

    def _drop(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(DBAPIError):
                self._connection.close()
            self._connection = None

    def close(self) -> None:
        self.release()
        self.engine.dispose()


class FileLock:
    """An exclusive flock on `<database>.scheduler.lock`. The kernel releases it when the holder dies."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, wait_seconds: float = 0.0) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(POLL_SECONDS)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{socket.gethostname()} pid {os.getpid()}\n".encode())
            self._fd = fd
            return True

    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        self.release()


def leader_lock(url: URL) -> PostgresAdvisoryLock | FileLock:
    """The lock that suits the database at `url` (an SQLAlchemy URL of the event store's database)."""
    if url.get_backend_name() == "postgresql":
        return PostgresAdvisoryLock(url)
    return FileLock(Path(f"{url.database}.scheduler.lock"))

