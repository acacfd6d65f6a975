"""Snapshots are a cache of replayed state, yet `show` reads them: check each one against a replay of the verified events."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import groupby
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from sqlalchemy import text

from app.audit.store import STREAM_BATCH, events_engine
from app.audit.verify import Problem, Report
from domain.errors import DomainError

SNAPSHOT_REPLAY_FAILURES = (ValueError, KeyError, TypeError, AttributeError, ArithmeticError, DomainError)


def snapshot_problems(service: Any, report: Report) -> list[Problem]:
    """Each stored snapshot must equal the state its agreement's events give at that version.

    A snapshot edited by hand would change what `show` and the API display without
    touching a single event. Agreements whose chain already has problems are skipped:
    their events cannot be trusted to replay. Each agreement is replayed once, however
    many snapshots it has.
    """
    broken = {p.agreement_id for p in report.problems}
    problems: list[Problem] = []
    for agreement, rows in groupby(_snapshot_rows(service), key=lambda row: row.originator_id):
        if agreement in broken:
            continue
        head = report.heads.get(str(agreement))
        ref = head.ref if head else None
        problems.extend(_check_agreement(service, str(agreement), ref, list(rows)))
    return problems


def _check_agreement(service: Any, agreement: str, ref: str | None, rows: list[StoredEvent]) -> Iterator[Problem]:
    wanted = {row.originator_version: row for row in rows}
    replayed: Any = None
    try:
        for event in service.ledger.events.get(UUID(hex=agreement), lte=max(wanted)):
            replayed = event.mutate(replayed)
            row = wanted.pop(event.originator_version, None)
            if row is not None and _state(service.ledger.mapper.to_domain_event(row).mutate(None)) != _state(replayed):
                yield Problem(ref or agreement, agreement, row.originator_version, None,
                              "the snapshot at this version differs from the state its events give: it was edited")
    except SNAPSHOT_REPLAY_FAILURES as e:
        yield Problem(ref or agreement, agreement, None, None, f"a snapshot cannot be read or checked ({type(e).__name__})")
        return
    for version in sorted(wanted):
        yield Problem(ref or agreement, agreement, version, None, "a snapshot exists for a version no event has")


def _state(aggregate: Any) -> dict[str, Any]:
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def _snapshot_rows(service: Any) -> Iterator[StoredEvent]:
    snapshots = service.ledger.snapshots
    if snapshots is None:
        return
    table = snapshots.recorder.events_table_name
    statement = text(f"SELECT originator_id, originator_version, topic, state FROM {table} "  # noqa: S608
                     "ORDER BY originator_id, originator_version")
    with events_engine(service.settings.database_url) as engine, engine.connect() as connection:
        result = connection.execution_options(stream_results=True, yield_per=STREAM_BATCH).execute(statement)
        for row in result:
            oid = row.originator_id
            yield StoredEvent(oid.hex if isinstance(oid, UUID) else str(oid), int(row.originator_version),
                              str(row.topic), bytes(row.state))
