"""The stored event rows, read straight from the events table in log order, one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from app.ledger import is_postgres, sqlalchemy_url

STREAM_BATCH = 500
"""Rows fetched from the database at a time: memory stays flat however long the log grows."""


@dataclass(frozen=True)
class StoredRow:
    """One row of the events table as it is stored, before anything is trusted.

    `originator_id` is the text of the id column and `originator_version` whatever the
    version column holds: a row edited by hand may hold anything, and the verifier must
    be able to report it rather than fail on it.
    """

    position: int
    originator_id: str
    originator_version: object
    topic: str
    state: bytes


@contextmanager
def events_engine(database_url: str) -> Iterator[Engine]:
    """A short-lived SQLAlchemy engine on the event store's database."""
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        yield engine
    finally:
        engine.dispose()


def stored_rows(database_url: str, events_table: str) -> Iterator[StoredRow]:
    """Every stored event in log order (SQLite rowid, PostgreSQL notification_id), as one consistent read."""
    position = "notification_id" if is_postgres(database_url) else "rowid"
    statement = text(
        f"SELECT {position} AS position, originator_id, originator_version, topic, state "  # noqa: S608
        f"FROM {events_table} ORDER BY {position}"
    )
    with events_engine(database_url) as engine, engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=STREAM_BATCH).execute(statement)
        for row in result:
            yield _stored_row(row._mapping)


def _stored_row(row: Any) -> StoredRow:
    state = row["state"]
    if isinstance(state, str):
        # SQLite keeps whatever type a hand-written UPDATE gave the column.
        state = state.encode("utf-8", errors="surrogateescape")
    return StoredRow(
        position=int(row["position"]),
        originator_id=_id_text(row["originator_id"]),
        originator_version=row["originator_version"],
        topic=str(row["topic"]),
        state=bytes(state) if state is not None else b"",
    )


def _id_text(value: object) -> str:
    if isinstance(value, UUID):
        return value.hex
    return str(value)
