"""Exports (the event log as JSON Lines, milestones as CSV, OCDS-style records) and the import of a log."""

from __future__ import annotations

import base64
import binascii
import csv
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic

from app.audit.store import StoredRow, stored_rows
from app.audit.verify import ChainVerifier, decoder_of
from app.ledger import replay
from app.ocds import ocds_record
from app.presenters import agreement_state
from domain.agreement import Agreement, agreement_id

IMPORT_BATCH = 500
EVENT_TOPICS = frozenset(get_topic(cls) for cls in vars(Agreement).values()
                         if isinstance(cls, type) and issubclass(cls, Agreement.Event))
"""The only topics an imported log may hold: the Agreement's own event classes."""


class BadImport(ValueError):
    """The file cannot be imported: unreadable, not a verified log, or the database is not empty."""


# The event log.

def export_jsonl(service: Any, out: TextIO) -> int:
    """One JSON object per stored event, in log order, with everything needed to restore it byte for byte."""
    decode = decoder_of(service.ledger.mapper)
    count = 0
    for row in stored_rows(service.settings.database_url, service.ledger.events_table):
        out.write(json.dumps(_log_line(row, decode), ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count


def _log_line(row: StoredRow, decode: Callable[[bytes], Any]) -> dict[str, Any]:
    try:
        fields = decode(row.state)
    except (ValueError, KeyError, TypeError, ArithmeticError):
        fields = {}
    line: dict[str, Any] = {
        "position": row.position,
        "originator_id": row.originator_id,
        "originator_version": row.originator_version,
        "topic": row.topic,
        "hash": fields.get("hash") if isinstance(fields, dict) else None,
        "prev_hash": fields.get("prev_hash") if isinstance(fields, dict) else None,
    }
    try:
        line["state"] = row.state.decode("utf-8")
    except UnicodeDecodeError:
        # Not the library's JSON (the row was damaged): keep the exact bytes anyway.
        line["state_base64"] = base64.b64encode(row.state).decode("ascii")
    return line


def import_jsonl(service: Any, path: Path) -> dict[str, int]:
    """Restore an exported log into an empty database: one transaction, rolled back at the first line that fails.

    Each line is verified (its chain, exactly as `audit verify` checks the store) before
    it is written, so a log that does not verify leaves the database as it was; and the
    log is streamed in batches, so memory does not grow with its length.
    """
    recorder = service.ledger.recorder
    if recorder.max_notification_id():
        msg = "the database already holds events; import only restores into an empty database"
        raise BadImport(msg)
    verifier = ChainVerifier(decoder_of(service.ledger.mapper))
    try:
        with _one_transaction(recorder) as insert:
            batch: list[StoredEvent] = []
            for row in _read_log(path):
                if row.topic not in EVENT_TOPICS:
                    # Issue 7: a topic names a class the library imports and instantiates on read; a forged log
                    # with a recomputed hash must not smuggle in anything but the agreement's own events.
                    msg = f"{path}: {row.topic!r} is not an agreement event, nothing imported"
                    raise BadImport(msg)
                verifier.check(row)
                if verifier.problems:
                    msg = f"{path} does not verify, nothing imported: {verifier.problems[0]}"
                    raise BadImport(msg)
                batch.append(StoredEvent(UUID(hex=row.originator_id), int(str(row.originator_version)),
                                         row.topic, row.state))
                if len(batch) == IMPORT_BATCH:
                    insert(batch)
                    batch = []
            if verifier.events_checked == 0:
                msg = f"{path} holds no events"
                raise BadImport(msg)
            if batch:
                insert(batch)
    except IntegrityError:
        msg = "the database already holds some of these events (another writer?); nothing imported"
        raise BadImport(msg) from None
    report = verifier.report()
    return {"events": report.events_checked, "agreements": report.agreements_checked}


@contextmanager
def _one_transaction(recorder: Any) -> Iterator[Callable[[list[StoredEvent]], object]]:
    """Insert batches of stored events with the library recorder's own statements, all in one transaction."""
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=True) as cursor:
            yield lambda batch: recorder._insert_events(cursor, batch)
        return
    with recorder.datastore.get_connection() as connection, connection.transaction(), connection.cursor() as cursor:
        # The PostgreSQL recorder's insert takes its table lock, so readers never skip these ids.
        yield lambda batch: recorder._insert_stored_events(cursor, batch)


def _read_log(path: Path) -> Iterator[StoredRow]:
    try:
        stream = path.open("r", encoding="utf-8")
    except OSError as e:
        msg = f"cannot read {path}: {e.strerror or e}"
        raise BadImport(msg) from None
    with stream:
        try:
            for number, text in enumerate(stream, start=1):
                if text.strip():
                    yield _log_row(text, number)
        except UnicodeDecodeError:
            msg = f"{path} is not UTF-8 text"
            raise BadImport(msg) from None


def _log_row(text: str, number: int) -> StoredRow:
    try:
        line = json.loads(text)
    except json.JSONDecodeError as e:
        msg = f"line {number}: not JSON ({e.msg})"
        raise BadImport(msg) from None
    if not isinstance(line, dict):
        msg = f"line {number}: expected a JSON object"
        raise BadImport(msg)
    try:
        originator_id = UUID(str(line["originator_id"])).hex
        version, topic = line["originator_version"], line["topic"]
        state = line["state"].encode("utf-8") if "state" in line else base64.b64decode(line["state_base64"], validate=True)
    except KeyError as e:
        msg = f"line {number}: missing {e.args[0]!r}"
        raise BadImport(msg) from None
    except (ValueError, AttributeError, TypeError, binascii.Error):
        msg = f"line {number}: originator_id, state or state_base64 is not well formed"
        raise BadImport(msg) from None
    if not isinstance(version, int) or isinstance(version, bool) or not isinstance(topic, str):
        msg = f"line {number}: originator_version must be a number and topic a string"
        raise BadImport(msg)
    position = line.get("position")
    return StoredRow(position if isinstance(position, int) else number, originator_id, version, topic, state)


# Milestones as CSV.

MILESTONE_COLUMNS = ("agreement_ref", "milestone_id", "title", "kind", "responsible", "due_on", "original_due_on",
                     "status", "percent", "completed_on")


def export_csv(service: Any, out: TextIO) -> int:
    """One row per milestone of every agreement, in signing order, then by due date."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(MILESTONE_COLUMNS)
    count = 0
    for ref in service.refs():
        for milestone in agreement_state(service.agreement(ref))["milestones"]:
            row = {**milestone, "agreement_ref": ref}
            writer.writerow(["" if row[c] is None else row[c] for c in MILESTONE_COLUMNS])
            count += 1
    return count


# OCDS-style records.

def export_ocds(service: Any, out: TextIO) -> int:
    """An OCDS record package, written one record (one agreement) at a time."""
    out.write('{"version":"1.1","publisher":{"name":"commitment-tracker"},"records":[')
    count = 0
    for ref in service.refs():
        events = list(service.ledger.events.get(agreement_id(ref)))
        record = ocds_record(events, agreement_state(replay(None, events)))
        out.write(("," if count else "") + "\n" + json.dumps(record, ensure_ascii=False))
        count += 1
    out.write("\n]}\n")
    return count


EXPORTERS: dict[str, Callable[[Any, TextIO], int]] = {"jsonl": export_jsonl, "csv": export_csv, "ocds": export_ocds}
