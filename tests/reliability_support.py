"""Helpers for the reliability tests: a sample agreement, a writer process, and reading the events table raw.

Run as a program, this module is the writer process the concurrency and crash tests start:

    python -m tests.reliability_support write DATABASE_URL REF MILESTONE WORKER COUNT

If $RELIABILITY_GO_FILE is set, it connects, then waits for that file to exist, so
that all writers start together. It records COUNT progress reports with command ids `WORKER-0`, `WORKER-1`, ... and
prints `ACK <command_id> <version>` (flushed) after each one is committed. A line
that was printed is a write the store acknowledged.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg

from app import commands as c
from app.ledger import is_postgres, parse_database_url
from app.service import CommitmentService
from app.settings import Settings
from domain.chain import GENESIS_HASH, event_hash

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
COMMITMENTS = str(ROOT / ".venv" / "bin" / "commitments")
FAR_FUTURE = date(2030, 12, 31)


def settings(database_url: str, **overrides: Any) -> Settings:
    return Settings(database_url=database_url, **overrides)


def sign_command(ref: str) -> c.SignAgreement:
    return c.SignAgreement.model_validate({
        "ref": ref, "kind": "convention",
        "title": {"ar": "اتفاقية اختبار", "fr": "Convention de test", "en": "Test agreement"},
        "parties": [
            {"short_name": "MIC", "role": "lead", "name": {"ar": "وزارة", "fr": "Ministère", "en": "Ministry"}},
            {"short_name": "CGEM", "name": {"ar": "الاتحاد", "fr": "Confédération", "en": "Confederation"}},
        ],
        "signed_on": "2025-11-03", "place": "Rabat", "occasion": "test", "starts_on": "2025-11-03",
        "ends_on": "2028-12-31", "effective_on": "2025-11-03", "command_id": f"sign-{ref}",
    })


def sign_sample(service: CommitmentService, ref: str, milestones: dict[str, date] | None = None) -> None:
    """Sign `ref` and plan its milestones (default: one, `m1`, due far in the future)."""
    service.sign(sign_command(ref), actor="test")
    for milestone_id, due_on in ({"m1": FAR_FUTURE} if milestones is None else milestones).items():
        service.plan_milestone(ref, c.PlanMilestone(
            milestone_id=milestone_id, title=f"Milestone {milestone_id}", due_on=due_on, responsible="MIC",
            effective_on=date(2025, 11, 3), command_id=f"plan-{ref}-{milestone_id}"), actor="test")


def progress(worker: str, index: int) -> c.ReportProgress:
    return c.ReportProgress(percent=(index * 7) % 101, note=f"{worker} report {index}", reason="load test",
                            effective_on=date(2026, 1, 5), command_id=f"{worker}-{index}")


@dataclass(frozen=True)
class StoredRow:
    originator_id: UUID
    version: int
    topic: str
    fields: dict[str, Any]


def stored_rows(service: CommitmentService, originator_id: UUID | None = None) -> list[StoredRow]:
    """The rows of the events table (all, or one agreement's), read with plain SQL, not through the library, in log order."""
    url = service.settings.database_url
    table = service.ledger.events_table
    decode = service.ledger.mapper.transcoder.decode
    if is_postgres(url):
        where = "" if originator_id is None else "WHERE originator_id = %s"
        with psycopg.connect(url) as conn:
            raw = conn.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {table} {where} ORDER BY notification_id",
                () if originator_id is None else (originator_id,),
            ).fetchall()
    else:
        where = "" if originator_id is None else "WHERE originator_id = ?"
        conn3 = sqlite3.connect(str(parse_database_url(url).database))
        try:
            raw = conn3.execute(
                f"SELECT originator_id, originator_version, topic, state FROM {table} {where} ORDER BY rowid",
                () if originator_id is None else (originator_id.hex,),
            ).fetchall()
        finally:
            conn3.close()
    rows = []
    for stored_id, version, topic, state in raw:
        oid = stored_id if isinstance(stored_id, UUID) else UUID(str(stored_id))
        rows.append(StoredRow(oid, int(version), str(topic), dict(decode(bytes(state)))))
    return rows


def chain_problems(rows: list[StoredRow]) -> list[str]:
    """Each agreement's events, in version order: versions 1..n, each hash recomputed, each link to the one before."""
    problems: list[str] = []
    by_agreement: dict[UUID, list[StoredRow]] = {}
    for row in rows:
        by_agreement.setdefault(row.originator_id, []).append(row)
    for originator_id, events in by_agreement.items():
        events.sort(key=lambda r: r.version)
        if [r.version for r in events] != list(range(1, len(events) + 1)):
            problems.append(f"{originator_id}: versions {[r.version for r in events]} are not 1..{len(events)}")
        previous = GENESIS_HASH
        for row in events:
            if row.fields["prev_hash"] != previous:
                problems.append(f"{originator_id} v{row.version}: prev_hash does not link to v{row.version - 1}")
            if event_hash(row.topic, originator_id, row.version, row.fields) != row.fields["hash"]:
                problems.append(f"{originator_id} v{row.version}: stored hash does not match the event")
            previous = row.fields["hash"]
    return problems


def _write(database_url: str, ref: str, milestone_id: str, worker: str, count: int) -> None:
    """Write progress reports WORKER-0 .. WORKER-(COUNT-1); print an acknowledgement after each commit."""
    service = CommitmentService(settings(database_url, conflict_retries=1000))
    try:
        service.agreement(ref)  # connect and warm up before the start line
        go = os.environ.get("RELIABILITY_GO_FILE")
        deadline = time.monotonic() + 30
        while go and not Path(go).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        for index in range(count):
            result = service.report_progress(ref, milestone_id, progress(worker, index), actor=worker)
            sys.stdout.write(f"ACK {worker}-{index} {result.version}\n")
            sys.stdout.flush()
            time.sleep(random.uniform(0, 0.01))  # let the writers interleave
    finally:
        service.close()


def _write_then_die(database_url: str, ref: str, milestone_id: str, worker: str, index: int) -> None:
    """Commit one write, then die by SIGKILL before acknowledging it: the crash between commit and reply."""
    service = CommitmentService(settings(database_url))
    service.report_progress(ref, milestone_id, progress(worker, index), actor=worker)
    os.kill(os.getpid(), signal.SIGKILL)


def parse_acks(text: str) -> dict[str, int]:
    """The command ids a writer acknowledged, with the version each reached (a torn last line is ignored)."""
    acks: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "ACK" and parts[2].isdigit():
            acks[parts[1]] = int(parts[2])
    return acks


def main(argv: list[str]) -> None:
    if argv[:1] == ["write"] and len(argv) == 6:
        _write(argv[1], argv[2], argv[3], argv[4], int(argv[5]))
        return
    if argv[:1] == ["write-then-die"] and len(argv) == 6:
        _write_then_die(argv[1], argv[2], argv[3], argv[4], int(argv[5]))
        return
    sys.stderr.write(json.dumps({"usage": "write DATABASE_URL REF MILESTONE WORKER COUNT"}) + "\n")
    sys.exit(2)


if __name__ == "__main__":
    main(sys.argv[1:])
