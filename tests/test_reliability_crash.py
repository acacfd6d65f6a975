"""Crash safety: writers killed with SIGKILL lose no acknowledged write; a retried write is not stored twice."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import psycopg
import pytest

from app.durability import check_durability
from app.ledger import is_postgres, parse_database_url
from app.service import CommitmentService
from domain.agreement import agreement_id
from tests.reliability_support import (
    COMMITMENTS,
    PYTHON,
    ROOT,
    StoredRow,
    chain_problems,
    parse_acks,
    progress,
    settings,
    sign_sample,
    stored_rows,
)

ROUNDS = 3
WRITERS = 3


class Writer:
    """A writer process whose acknowledgements are collected as they are printed."""

    def __init__(self, database_url: str, ref: str, worker: str, count: int, go: Path | None = None) -> None:
        env = {**os.environ, "RELIABILITY_GO_FILE": str(go)} if go else dict(os.environ)
        self.process = subprocess.Popen(
            [PYTHON, "-m", "tests.reliability_support", "write", database_url, ref, "m1", worker, str(count)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def acks_so_far(self) -> int:
        return len(self.lines)

    def kill(self) -> dict[str, int]:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=20)
        self._reader.join(timeout=20)
        assert self.process.returncode == -signal.SIGKILL
        return parse_acks("".join(self.lines))

    def finish(self, timeout: float = 60) -> dict[str, int]:
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=20)
        assert self.process.stderr is not None
        assert self.process.returncode == 0, self.process.stderr.read()
        return parse_acks("".join(self.lines))


def _progress_rows(service: CommitmentService, ref: str) -> list[StoredRow]:
    return [r for r in stored_rows(service) if r.originator_id == agreement_id(ref) and r.version > 2]


@pytest.mark.slow
def test_writes_acknowledged_before_sigkill_are_all_stored_once(database_url: str, tmp_path: Path) -> None:
    service = CommitmentService(settings(database_url))
    rng = random.Random(20261129)
    try:
        sign_sample(service, "crash-target")
        acknowledged: dict[str, int] = {}
        for round_ in range(ROUNDS):
            go = tmp_path / f"go-{round_}"
            writers = [Writer(database_url, "crash-target", f"r{round_}w{n}", 100_000, go) for n in range(WRITERS)]
            time.sleep(1.0)
            go.touch()
            # Let each writer get some writes through, then kill it at a random point in its stream.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and min(w.acks_so_far() for w in writers) < 3:
                time.sleep(0.02)
            for writer in rng.sample(writers, len(writers)):
                time.sleep(rng.uniform(0, 0.3))
                acknowledged.update(writer.kill())

            rows = _progress_rows(service, "crash-target")
            stored = {r.fields["command_id"]: r.version for r in rows}
            # No acknowledged write is lost, and it has the version the writer was told.
            missing = {k: v for k, v in acknowledged.items() if stored.get(k) != v}
            assert missing == {}
            # Nothing is stored twice; at most one write per writer was committed but not acknowledged.
            assert len(stored) == len(rows)
            unacknowledged = set(stored) - set(acknowledged)
            assert len(unacknowledged) <= WRITERS * (round_ + 1)
        assert len(acknowledged) >= ROUNDS * WRITERS * 3

        # The store is whole after the crashes: contiguous versions, an unbroken chain, and a fresh process can write.
        all_rows = stored_rows(service)
        assert chain_problems(all_rows) == []
        after = Writer(database_url, "crash-target", "after", 3).finish()
        assert sorted(after) == ["after-0", "after-1", "after-2"]
    finally:
        service.close()


@pytest.mark.slow
def test_a_write_committed_but_never_acknowledged_is_not_duplicated_by_its_retry(database_url: str) -> None:
    service = CommitmentService(settings(database_url))
    try:
        sign_sample(service, "retry-target")
        # The writer commits `lost-0` and is killed before it can say so.
        died = subprocess.run(
            [PYTHON, "-m", "tests.reliability_support", "write-then-die", database_url, "retry-target", "m1",
             "lost", "0"],
            cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )
        assert died.returncode == -signal.SIGKILL
        assert died.stdout == ""
        assert [r.fields["command_id"] for r in _progress_rows(service, "retry-target")] == ["lost-0"]

        # The client never heard back, so it retries the same command (same command id) from a new process,
        # and goes on with the next one.
        retried = Writer(database_url, "retry-target", "lost", 2).finish()
        assert retried == {"lost-0": 3, "lost-1": 4}
        rows = _progress_rows(service, "retry-target")
        assert [(r.fields["command_id"], r.version) for r in rows] == [("lost-0", 3), ("lost-1", 4)]
        assert chain_problems(stored_rows(service)) == []
    finally:
        service.close()


def test_durability_settings_are_read_back_from_the_store(database_url: str) -> None:
    service = CommitmentService(settings(database_url))
    try:
        report = check_durability(service.ledger)
        assert report.durable, report.warnings
        assert report.warnings == []
        if report.backend == "sqlite":
            assert report.settings == {"journal_mode": "wal", "synchronous": "FULL"}
        else:
            assert report.backend == "postgresql"
            assert report.settings["fsync"] == "on"
            assert report.settings["synchronous_commit"] != "off"
            assert report.settings["full_page_writes"] == "on"
        assert report.as_dict()["durable"] is True
    finally:
        service.close()


def test_a_non_durable_sqlite_connection_is_reported(sqlite_url: str) -> None:
    service = CommitmentService(settings(sqlite_url))
    try:
        # Turn one pooled writer connection down to NORMAL: the check must read the truth, not the configuration.
        with service.ledger.recorder.datastore.get_connection(commit=True) as conn:  # type: ignore[attr-defined]
            conn.cursor().execute("PRAGMA synchronous=NORMAL")
        report = check_durability(service.ledger)
        assert report.settings == {"journal_mode": "wal", "synchronous": "NORMAL"}
        assert not report.durable
        assert report.warnings == [
            "SQLite synchronous is NORMAL, not FULL: a power cut can lose acknowledged writes"]
    finally:
        service.close()


def test_a_postgres_database_without_synchronous_commit_is_reported(postgres_url: str) -> None:
    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'ALTER DATABASE "{database}" SET synchronous_commit = off')
    service = CommitmentService(settings(postgres_url))
    try:
        report = check_durability(service.ledger)
        assert report.settings["synchronous_commit"] == "off"
        assert report.settings["fsync"] == "on"
        assert report.warnings == ["PostgreSQL synchronous_commit is off: a server crash can lose acknowledged writes"]
    finally:
        service.close()


AGREEMENTS_IN_LOG = 60


@pytest.fixture(scope="module")
def exported_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An exported event log of 3,000 events over 60 agreements, written by `commitments export`."""
    folder = tmp_path_factory.mktemp("log")
    url = f"sqlite:///{folder / 'source.db'}"
    service = CommitmentService(settings(url))
    try:
        for n in range(AGREEMENTS_IN_LOG):
            ref = f"log-{n}"
            sign_sample(service, ref)
            for i in range(48):
                service.report_progress(ref, "m1", progress(ref, i), actor="test")
    finally:
        service.close()
    path = folder / "log.jsonl"
    run = subprocess.run([COMMITMENTS, "--db", url, "export", "--format", "jsonl", "--output", str(path)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert len(path.read_text(encoding="utf-8").splitlines()) == AGREEMENTS_IN_LOG * 50
    return path


def writing(database_url: str) -> bool:
    """Whether another connection holds the event store's write lock: an import is inside its transaction."""
    if is_postgres(database_url):
        with psycopg.connect(database_url, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'commitments_events' AND l.granted AND l.pid <> pg_backend_pid() "
                "AND l.mode IN ('RowExclusiveLock', 'ExclusiveLock')").fetchone()
            return bool(row and row[0])
    lite = sqlite3.connect(str(parse_database_url(database_url).database), timeout=0)
    try:
        lite.execute("BEGIN IMMEDIATE")
        lite.rollback()
        return False
    except sqlite3.OperationalError:
        return True
    finally:
        lite.close()


@pytest.mark.slow
def test_an_import_killed_with_sigkill_mid_transaction_leaves_nothing_and_can_be_run_again(
        database_url: str, exported_log: Path) -> None:
    total = AGREEMENTS_IN_LOG * 50
    service = CommitmentService(settings(database_url))
    try:
        service.max_position()  # the tables exist before the import starts
        importer = subprocess.Popen([COMMITMENTS, "--db", database_url, "import", str(exported_log)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while importer.poll() is None and not writing(database_url) and time.monotonic() < deadline:
                time.sleep(0.002)
            time.sleep(random.Random(11).uniform(0, 0.05))
            assert importer.poll() is None, "the import finished before it could be killed"
            importer.kill()
            importer.wait(timeout=20)
        finally:
            if importer.poll() is None:
                importer.kill()
                importer.wait(timeout=20)
        # One transaction: the killed import left nothing behind, and the store is not locked.
        assert len(stored_rows(service)) == 0
        assert not writing(database_url)
        again = subprocess.run([COMMITMENTS, "--db", database_url, "import", str(exported_log), "--json"],
                               capture_output=True, text=True, timeout=120, check=False)
        assert again.returncode == 0, again.stderr
        assert json.loads(again.stdout) == {"events": total, "agreements": AGREEMENTS_IN_LOG}
        rows = stored_rows(service)
        assert len(rows) == total
        assert chain_problems(rows) == []
    finally:
        service.close()
