"""Shared by the audit and export tests: a store loaded with the demo, and SQL that tampers with its real tables."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, text

from app.audit.verify import decoder_of
from app.demo import load_demo
from app.ledger import is_postgres, sqlalchemy_url
from app.service import CommitmentService
from app.settings import Settings
from domain.agreement import agreement_id
from domain.chain import event_hash


@contextmanager
def demo_service(database_url: str) -> Iterator[CommitmentService]:
    service = CommitmentService(Settings(database_url=database_url))
    try:
        load_demo(service)
        yield service
    finally:
        service.close()


class Tamperer:
    """Edits the events table behind the application's back, the way someone with database access could."""

    def __init__(self, service: CommitmentService) -> None:
        self.service = service
        self.url = service.settings.database_url
        self.table = service.ledger.events_table
        self.position = "notification_id" if is_postgres(self.url) else "rowid"

    def execute(self, sql: str, **params: Any) -> None:
        engine = create_engine(sqlalchemy_url(self.url))
        try:
            with engine.begin() as connection:
                connection.execute(text(sql.format(table=self.table, position=self.position)), params)
        finally:
            engine.dispose()

    def fetch(self, sql: str, **params: Any) -> list[Any]:
        engine = create_engine(sqlalchemy_url(self.url))
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(sql.format(table=self.table, position=self.position)), params))
        finally:
            engine.dispose()

    def oid(self, ref: str) -> Any:
        """The id column's value for an agreement, as each backend stores it."""
        uuid = agreement_id(ref)
        return uuid if is_postgres(self.url) else uuid.hex

    def state(self, ref: str, version: int) -> bytes:
        rows = self.fetch("SELECT state FROM {table} WHERE originator_id=:oid AND originator_version=:v",
                          oid=self.oid(ref), v=version)
        return bytes(rows[0][0])

    def position_of(self, ref: str, version: int) -> int:
        rows = self.fetch("SELECT {position} FROM {table} WHERE originator_id=:oid AND originator_version=:v",
                          oid=self.oid(ref), v=version)
        return int(rows[0][0])

    def set_state(self, ref: str, version: int, state: bytes) -> None:
        self.execute("UPDATE {table} SET state=:state WHERE originator_id=:oid AND originator_version=:v",
                     state=state, oid=self.oid(ref), v=version)

    def edit_byte(self, ref: str, version: int, old: bytes, new: bytes) -> None:
        state = self.state(ref, version)
        assert len(old) == len(new)
        assert sum(a != b for a, b in zip(old, new, strict=True)) == 1
        assert old in state
        self.set_state(ref, version, state.replace(old, new, 1))

    def delete(self, ref: str, version: int) -> None:
        self.execute("DELETE FROM {table} WHERE originator_id=:oid AND originator_version=:v",
                     oid=self.oid(ref), v=version)

    def swap_positions(self, ref: str, v1: int, v2: int) -> None:
        p1, p2 = self.position_of(ref, v1), self.position_of(ref, v2)
        for source, target in ((p1, -1), (p2, p1), (-1, p2)):
            self.execute("UPDATE {table} SET {position}=:target WHERE {position}=:source", source=source, target=target)

    def insert(self, ref: str, version: int, topic: str, state: bytes) -> None:
        self.execute("INSERT INTO {table} (originator_id, originator_version, topic, state) VALUES (:oid, :v, :topic, :state)",
                     oid=self.oid(ref), v=version, topic=topic, state=state)

    def topic(self, ref: str, version: int) -> str:
        rows = self.fetch("SELECT topic FROM {table} WHERE originator_id=:oid AND originator_version=:v",
                          oid=self.oid(ref), v=version)
        return str(rows[0][0])

    def forge(self, ref: str, version: int, changes: dict[str, Any], *, at_version: int | None = None,
              prev_hash: str | None = None) -> tuple[str, bytes]:
        """An event's state with `changes` applied and its hash recomputed, as a careful forger would."""
        mapper = self.service.ledger.mapper
        fields = decoder_of(mapper)(self.state(ref, version))
        fields.update(changes)
        if prev_hash is not None:
            fields["prev_hash"] = prev_hash
        topic = self.topic(ref, version)
        fields["hash"] = event_hash(topic, agreement_id(ref), at_version or version, fields)
        return topic, mapper.transcoder.encode(fields)

    def head_version(self, ref: str) -> int:
        return int(self.fetch("SELECT MAX(originator_version) FROM {table} WHERE originator_id=:oid",
                              oid=self.oid(ref))[0][0])

    def newest_position(self) -> int:
        return int(self.fetch("SELECT MAX({position}) FROM {table}")[0][0])
