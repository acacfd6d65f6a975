"""The event store: the library's own SQLite or PostgreSQL recorder, chosen from one database URL."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import JSONTranscoder, Recording, Transcoding
from eventsourcing.sqlite import SQLiteConnection, SQLiteConnectionPool, SQLiteFactory
from sqlalchemy.engine import URL, make_url

from domain.agreement import Agreement
from domain.values import Allocation, Contact, Milestone

APPLICATION_NAME = "commitments"


class BadDatabaseURL(ValueError):
    """The database URL names no database this project can use."""


def parse_database_url(database_url: str) -> URL:
    try:
        url = make_url(database_url)
    except Exception as e:  # SQLAlchemy raises ArgumentError or ValueError here
        msg = f"cannot read database URL {database_url!r}: {e}"
        raise BadDatabaseURL(msg) from None
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        msg = f"database URL must start with sqlite:/// or postgresql://, got {database_url!r}"
        raise BadDatabaseURL(msg)
    if url.get_backend_name() == "sqlite" and not url.database:
        msg = "an SQLite database URL needs a file path, such as sqlite:///commitments.db"
        raise BadDatabaseURL(msg)
    return url


def is_postgres(database_url: str) -> bool:
    return parse_database_url(database_url).get_backend_name() == "postgresql"


def sqlalchemy_url(database_url: str) -> URL:
    """The same database, for SQLAlchemy (views, users, the job store): psycopg 3 on PostgreSQL."""
    url = parse_database_url(database_url)
    if url.get_backend_name() == "postgresql":
        return url.set(drivername="postgresql+psycopg")
    return url.set(drivername="sqlite")


def recorder_environment(database_url: str, *, lock_timeout: int) -> dict[str, str]:
    """The library's environment variables for the store named by the URL."""
    url = parse_database_url(database_url)
    if url.get_backend_name() == "sqlite":
        return {
            "PERSISTENCE_MODULE": f"{__name__}:DurableSQLiteFactory",
            "SQLITE_DBNAME": str(url.database),
            "SQLITE_LOCK_TIMEOUT": str(lock_timeout),
        }
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": str(url.database or "postgres"),
        "POSTGRES_HOST": url.host or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
        "POSTGRES_LOCK_TIMEOUT": str(lock_timeout),
        "POSTGRES_PRE_PING": "y",
        # How long to wait for a pooled connection: a server that is down is reported in seconds, not minutes.
        "POSTGRES_CONNECT_TIMEOUT": "15",
        "POSTGRES_POOL_SIZE": "5",
        "POSTGRES_MAX_OVERFLOW": "10",
    }


SCHEMA_LOCK_KEY = 0x636F6D6D69746D74  # "commitmt": the advisory lock under which a process creates the tables
"""Issue 7: on PostgreSQL the library creates its tables and replaces its insert function at start-up; two
processes doing so at once can fail with "tuple concurrently updated" (CREATE OR REPLACE FUNCTION is not
safe concurrently). Processes starting together take turns under this session-level advisory lock."""


@contextlib.contextmanager
def schema_lock(database_url: str) -> Iterator[None]:
    """Hold a PostgreSQL advisory lock while the store's tables are created; nothing to do on SQLite."""
    url = parse_database_url(database_url)
    if url.get_backend_name() != "postgresql":
        yield
        return
    import psycopg
    from eventsourcing.persistence import OperationalError

    try:
        connection = psycopg.connect(host=url.host or "127.0.0.1", port=url.port or 5432, user=url.username or "postgres",
                                     password=url.password or "", dbname=url.database or "postgres", autocommit=True,
                                     connect_timeout=30)
    except psycopg.Error as e:
        # The same error the library's recorder would raise for an unreachable database.
        raise OperationalError(str(e).strip()) from e
    with connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK_KEY,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK_KEY,))


class DurableSQLiteConnectionPool(SQLiteConnectionPool):
    """The library's pool, with every connection set to `synchronous=FULL`: in WAL mode a commit is then on disk when it returns."""

    def _create_connection(self) -> SQLiteConnection:
        connection = super()._create_connection()
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=FULL")
        return connection


class DurableSQLiteFactory(SQLiteFactory):
    """The library's SQLite factory (WAL mode), with durable commits."""

    def __init__(self, env: Any) -> None:
        super().__init__(env)
        pool = self.datastore.pool
        self.datastore.pool = DurableSQLiteConnectionPool(
            db_name=pool.db_name, lock_timeout=pool.lock_timeout
        )
        pool.close()


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class DataclassAsDict(Transcoding):
    """Stores a domain value object (in snapshots) as a dict of its fields."""

    def __init__(self, cls: type[Any]) -> None:
        self.type = cls
        self.name = cls.__name__.lower()

    def encode(self, obj: Any) -> dict[str, Any]:
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}

    def decode(self, data: dict[str, Any]) -> Any:
        return self.type(**data)


def replay(agreement: Any, events: Iterable[Any]) -> Any:
    """Apply stored events (a snapshot first, if any) to an agreement: the library's `project_aggregate`
    without its per-event `assert isinstance(event, CanMutateProtocol)`.

    Asserting a runtime Protocol costs about 10 µs an event, more than half of a cold load or a fresh read
    (bench/RESULTS.md). Every event and snapshot this ledger stores can mutate an agreement.
    """
    for event in events:
        agreement = event.mutate(agreement)
    return agreement


class AgreementLedger(Application[UUID]):
    """The library application that stores Agreement events.

    Command latency must not grow with an agreement's history. We keep loaded
    agreements in the library's aggregate cache *without* fast-forwarding and
    without deep copies: a command works on the cached state and, if another
    process wrote first, the insert fails on the (id, version) key and the service
    evicts, reloads and retries. So the common path costs one INSERT and no reads.
    Snapshots every `snapshot_interval` events bound the cost of a cold load (a new
    process, or a reload after a conflict) to one snapshot plus fewer events than
    the interval. We snapshot the state already in memory rather than letting the
    library replay the agreement again at every interval.
    """

    name = APPLICATION_NAME

    def __init__(self, database_url: str, *, snapshot_interval: int, cache_size: int, lock_timeout: int) -> None:
        self.snapshot_interval = snapshot_interval
        env = {
            **recorder_environment(database_url, lock_timeout=lock_timeout),
            "IS_SNAPSHOTTING_ENABLED": "y",
            "AGGREGATE_CACHE_MAXSIZE": str(cache_size),
            "AGGREGATE_CACHE_FASTFORWARD": "n",
            "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
        }
        with schema_lock(database_url):
            super().__init__(env)

    def construct_env(self, name: str, env: Any = None) -> Any:
        # Only the URL decides the store: stray library variables in os.environ must not.
        from eventsourcing.utils import Environment

        return Environment(name, dict(env or {}))

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        for cls in (Milestone, Allocation, Contact):
            transcoder.register(DataclassAsDict(cls))

    def save(self, *objs: Any, **kwargs: Any) -> list[Recording[UUID]]:
        """The library's `save`, without its per-object `isinstance` against a runtime Protocol.

        That check costs about 16 µs, a tenth of a command's CPU (bench/RESULTS.md). Our service only
        saves agreements, so it collects their events directly; anything else takes the library's path.
        """
        if kwargs or not all(type(obj) is Agreement for obj in objs):
            return super().save(*objs, **kwargs)
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for agreement in objs:
            processing_event.aggregates[agreement.id] = agreement
            processing_event.events.extend(agreement.collect_events())
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        assert self.snapshots is not None
        for aggregate in processing_event.aggregates.values():
            saved = [e.originator_version for e in processing_event.events if e.originator_id == aggregate.id]
            if any(v % self.snapshot_interval == 0 for v in saved) and isinstance(aggregate, Agreement):
                self.snapshots.put([Agreement.Snapshot.take(aggregate)])

    def evict(self, aggregate_id: UUID) -> None:
        """Forget a cached agreement, after a conflict or a failed save."""
        cache = self.repository.cache
        if cache is not None:
            with contextlib.suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    @property
    def events_table(self) -> str:
        return str(getattr(self.recorder, "events_table_name", "stored_events"))
