"""Figure: recording progress through CommitmentService, against the bare library and against raw sqlite3.

All three contenders write to their own SQLite file in the same directory, in WAL mode
with `synchronous=FULL` (the project's durable setting), one command (or row) per commit.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import time
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import StoredEvent

from app import commands as c
from app.service import CommitmentService
from app.settings import Settings
from bench import Figure, Sizes
from bench.store import PARTIES, milestone_id
from bench.timing import alternating_rates, per_second, ratio_of_rounds

VS_LIBRARY, VS_SQLITE = "command_path_vs_library", "command_path_vs_raw_sqlite"


class Tally(Aggregate):
    """The smallest aggregate that records progress: what a user of the bare library would write."""

    @event("Created")
    def __init__(self) -> None:
        self.percent = 0

    @event("ProgressReported")
    def report_progress(self, percent: int, note: str) -> None:
        self.percent = percent


class BareLibrary(Application[UUID]):
    """The bare eventsourcing 9.5 application, aggregate cache on (the library's defaults: fast-forward, deep copy)."""

    name = "bare"


def sqlite_env(path: Path) -> dict[str, str]:
    """The project's own SQLite factory (WAL, synchronous=FULL), so the library runs on the same file settings."""
    return {"PERSISTENCE_MODULE": "app.ledger:DurableSQLiteFactory", "SQLITE_DBNAME": str(path)}


def service_at(path: Path) -> CommitmentService:
    return CommitmentService(Settings(database_url=f"sqlite:///{path}"))


def sign_for_bench(service: CommitmentService, ref: str) -> None:
    """Sign an agreement and plan one milestone, through the service as a user would."""
    service.sign(c.SignAgreement.model_validate({
        "ref": ref, "kind": "convention", "title": {"ar": "قياس", "fr": "Mesure", "en": "Benchmark"},
        "parties": [{"short_name": name, "role": "lead" if i == 0 else "signatory", "name": {"ar": name, "fr": name, "en": name}}
                    for i, name in enumerate(PARTIES)],
        "signed_on": "2025-01-10", "place": "Rabat", "occasion": "benchmark", "starts_on": "2025-01-10", "ends_on": "2030-12-31",
    }), actor="bench")
    service.plan_milestone(ref, c.PlanMilestone(milestone_id=milestone_id(0), title="Milestone 0",
                                                due_on=date(2026, 6, 30), responsible=PARTIES[0], kind="delivery"),
                           actor="bench")


class ProjectContender:
    """`service.report_progress` round-robin over agreements, as the CLI, the API and the scheduler call it."""

    def __init__(self, path: Path, agreements: int) -> None:
        self.service = service_at(path)
        self.refs = [f"bench-{i}" for i in range(agreements)]
        for ref in self.refs:
            sign_for_bench(self.service, ref)
        self.done = 0

    def __call__(self, n: int) -> None:
        report = self.service.report_progress
        for i in range(self.done, self.done + n):
            command = c.ReportProgress(percent=min(i // len(self.refs), 100), note="on track")
            report(self.refs[i % len(self.refs)], milestone_id(0), command, actor="bench")
        self.done += n

    def close(self) -> None:
        self.service.close()


class LibraryContender:
    """`repository.get` + one aggregate method + `save`, round-robin over as many aggregates."""

    def __init__(self, path: Path, aggregates: int) -> None:
        self.app = BareLibrary(env={**sqlite_env(path), "AGGREGATE_CACHE_MAXSIZE": "10000"})
        self.ids: list[UUID] = []
        for _ in range(aggregates):
            tally = Tally()
            self.app.save(tally)
            self.ids.append(tally.id)
        self.done = 0

    def __call__(self, n: int) -> None:
        get, save = self.app.repository.get, self.app.save
        for i in range(self.done, self.done + n):
            tally: Any = get(self.ids[i % len(self.ids)])
            tally.report_progress(percent=min(i // len(self.ids), 100), note="on track")
            save(tally)
        self.done += n

    def close(self) -> None:
        self.app.close()


class RecorderFloor:
    """The library's own recorder inserting one ready-made stored event per commit (no domain, no mapper): what
    every save through the library costs at least, the project's and the bare library's alike."""

    def __init__(self, path: Path, payload: bytes) -> None:
        self.app = BareLibrary(env=sqlite_env(path))
        self.originator_id = uuid4()
        self.payload = payload
        self.done = 0

    def __call__(self, n: int) -> None:
        insert, oid, payload = self.app.recorder.insert_events, self.originator_id, self.payload
        for version in range(self.done + 1, self.done + n + 1):
            insert([StoredEvent(originator_id=oid, originator_version=version, topic="bench:ProgressReported",
                                state=payload)])
        self.done += n

    def close(self) -> None:
        self.app.close()


class RawSQLiteContender:
    """Raw sqlite3: one INSERT of a stored-event-sized row per transaction, WAL, synchronous=FULL."""

    def __init__(self, path: Path, payload: bytes) -> None:
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA synchronous=FULL")
        self.connection.execute("CREATE TABLE stored_events (originator_id TEXT, originator_version INTEGER, topic TEXT, "
                                "state BLOB, PRIMARY KEY (originator_id, originator_version))")
        self.payload = payload
        self.done = 0

    def __call__(self, n: int) -> None:
        execute = self.connection.execute
        for i in range(self.done, self.done + n):
            execute("BEGIN")
            execute("INSERT INTO stored_events VALUES (?, ?, ?, ?)", ("bench", i, "bench:ProgressReported", self.payload))
            execute("COMMIT")
        self.done += n

    def close(self) -> None:
        self.connection.close()


def without_fsync(pool: Any) -> None:
    """`synchronous=OFF` on a library pool's idle connection (one thread uses one): the diagnostic run without the disk."""
    connection = pool.get_connection(is_writer=True)
    try:
        connection.cursor().execute("PRAGMA synchronous=OFF")
    finally:
        pool.put_connection(connection)


def cpu_only(project: ProjectContender, library: LibraryContender, raw: RawSQLiteContender, sizes: Sizes) -> str:
    """The same contenders with `synchronous=OFF`: what each costs besides waiting for the disk to sync."""
    without_fsync(project.service.ledger.recorder.datastore.pool)  # type: ignore[attr-defined]
    without_fsync(library.app.recorder.datastore.pool)  # type: ignore[attr-defined]
    raw.connection.execute("PRAGMA synchronous=OFF")
    rates = alternating_rates({"project": project, "library": library, "raw": raw}, sizes.commands, sizes.rounds)
    return (f"; diagnostic with synchronous=OFF on all three (CPU, no disk sync): project {per_second(rates['project'])}, "
            f"bare library {per_second(rates['library'])}, raw sqlite3 {per_second(rates['raw'])}, project/library "
            f"{ratio_of_rounds(rates['project'], rates['library']):.2f}")


def fsync_seconds(path: Path, times: int = 100) -> float:
    """The median time to append a little to a file and fsync it: the wait under every durable commit."""
    durations = []
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(times):
            started = time.perf_counter()
            os.write(descriptor, b"x" * 512)
            os.fsync(descriptor)
            durations.append(time.perf_counter() - started)
    finally:
        os.close(descriptor)
    return statistics.median(durations)


def last_event_state(service: CommitmentService) -> bytes:
    """The stored bytes of the project's last event: the raw contender writes rows of the same size."""
    notifications = service.ledger.recorder.select_notifications(service.max_position(), 1)
    return bytes(notifications[0].state)


def measure(sizes: Sizes, workdir: Path) -> list[Figure]:
    project = ProjectContender(workdir / "project.db", sizes.agreements_for_commands)
    library = LibraryContender(workdir / "library.db", sizes.agreements_for_commands)
    raw = RawSQLiteContender(workdir / "raw.db", last_event_state(project.service))
    floor = RecorderFloor(workdir / "floor.db", last_event_state(project.service))
    try:
        for contender in (project, library, raw, floor):  # warm up: caches filled, files grown, code paths imported
            contender(sizes.agreements_for_commands * 2)
        rates = alternating_rates({"project": project, "library": library, "raw": raw, "floor": floor},
                                  sizes.commands, sizes.rounds)
        diagnostic = "" if sizes.quick else cpu_only(project, library, raw, sizes)
    finally:
        for closing in (project, library, raw, floor):
            closing.close()
    sync_ms = fsync_seconds(workdir / "fsync.probe") * 1000
    shown = (f"project {per_second(rates['project'])} ({1000 / statistics.median(rates['project']):.2f} ms each), "
             f"bare library {per_second(rates['library'])} ({1000 / statistics.median(rates['library']):.2f} ms), "
             f"raw sqlite3 {per_second(rates['raw'])} ({1000 / statistics.median(rates['raw']):.2f} ms: the floor of a "
             f"durable commit); one bare fsync of this disk {sync_ms:.2f} ms (median); the library's recorder alone, "
             f"inserting one ready-made event per commit {per_second(rates['floor'])} "
             f"({1000 / statistics.median(rates['floor']):.2f} ms), so a path that saves through the library can be "
             f"at most {ratio_of_rounds(rates['floor'], rates['library']):.2f}x the bare library")
    note = f"{sizes.commands} commands x {sizes.rounds} rounds over {sizes.agreements_for_commands} agreements; {shown}{diagnostic}"
    return [
        Figure(VS_LIBRARY, ratio_of_rounds(rates["project"], rates["library"]), 2.0, "higher",
               "bare eventsourcing 9.5: get + method + save, aggregate cache on", note),
        Figure(VS_SQLITE, ratio_of_rounds(rates["project"], rates["raw"]), 0.15, "higher",
               "raw sqlite3, one transaction per row (WAL, synchronous=FULL)", note),
    ]
