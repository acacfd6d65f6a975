"""The read models' SQLAlchemy engine: transactional DDL and write locks on SQLite, pre-ping and a name on PostgreSQL."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL

WRITE = "projections_write"
"""Execution option: this transaction will write, so on SQLite it takes the write lock when it begins."""

CONNECTION_NAME = "commitments-projections"
"""PostgreSQL `application_name` of the read models' connections (operators can find them in pg_stat_activity)."""


def create_views_engine(url: URL, *, lock_timeout: float = 30.0) -> Engine:
    if url.get_backend_name() == "postgresql":
        return create_engine(url, pool_pre_ping=True, pool_size=3, max_overflow=5,
                             connect_args={"application_name": CONNECTION_NAME, "connect_timeout": 10})
    engine = create_engine(url, pool_pre_ping=True, connect_args={"timeout": lock_timeout})
    event.listen(engine, "connect", _sqlite_connect)
    event.listen(engine, "begin", _sqlite_begin)
    return engine


def writer(engine: Engine) -> Engine:
    """The same engine, for transactions that write."""
    return engine.execution_options(**{WRITE: True})


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # We emit BEGIN ourselves (below): pysqlite's own implicit transactions would commit DDL on its own, and a
    # rebuild must drop and recreate a view's tables and its tracking row in one transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # In WAL mode a deferred transaction that reads and then writes fails at once (no busy wait) when another
    # writer committed in between; BEGIN IMMEDIATE takes the write lock first, waiting up to the lock timeout.
    immediate = connection.get_execution_options().get(WRITE, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
