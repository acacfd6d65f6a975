"""Figure: commands per second with 8 writer processes on different agreements, over 1 writer, on PostgreSQL.

Eight worker processes start once; in each round either worker 0 alone or all eight run
the same number of commands each, on agreements of their own, and the throughput is the
commands done over the wall time from the first start to the last finish.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from app import commands as c
from app.service import CommitmentService
from app.settings import Settings
from bench import Figure, Sizes, not_measured
from bench.command_path import sign_for_bench
from bench.store import milestone_id
from bench.timing import per_second

NAME = "postgres_8_writers_vs_1"
BASELINE = "1 writer process on the same database"
WRITERS = 8
DEFAULT_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"


def admin_url() -> str:
    """A database to connect to for CREATE/DROP DATABASE: $COMMITMENTS_TEST_PG, as the tests use, or the local default."""
    return os.environ.get("COMMITMENTS_TEST_PG", DEFAULT_ADMIN_URL)


def create_database() -> str:
    """A new, empty PostgreSQL database for this run; returns its URL."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url(), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{admin_url().rsplit('/', 1)[0]}/{name}"


def drop_database(url: str) -> None:
    with psycopg.connect(admin_url(), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


class LockTimer:
    """Sums the seconds a writer holds the events table's lock: from the library's LOCK TABLE statement (issued
    in `_insert_stored_events`) until `insert_events` returns, after the COMMIT. Instruments this process's
    recorder only, by wrapping the two methods on the instance."""

    def __init__(self, recorder: Any) -> None:
        self.held = 0.0
        self._since = 0.0
        insert_events, insert_stored_events = recorder.insert_events, recorder._insert_stored_events

        def locking(*args: Any, **kwargs: Any) -> Any:
            self._since = time.monotonic()
            return insert_stored_events(*args, **kwargs)

        def inserting(*args: Any, **kwargs: Any) -> Any:
            self._since = 0.0
            try:
                return insert_events(*args, **kwargs)
            finally:
                if self._since:
                    self.held += time.monotonic() - self._since

        recorder._insert_stored_events = locking
        recorder.insert_events = inserting


def writer(database_url: str, index: int) -> None:
    """One writer process: signs its own agreement and says "ready"; then for each number `n` read on stdin runs
    `n` commands and answers "started finished locked" (times on the monotonic clock, which all processes on the
    machine share, and the seconds spent under the table lock); 0 ends it."""
    service = CommitmentService(Settings(database_url=database_url))
    ref, done = f"writer-{index}", 0
    lock = LockTimer(service.ledger.recorder)
    try:
        sign_for_bench(service, ref)
        print("ready", flush=True)
        for line in sys.stdin:
            if (n := int(line)) <= 0:
                break
            started, lock.held = time.monotonic(), 0.0
            for i in range(done, done + n):
                service.report_progress(ref, milestone_id(0), c.ReportProgress(percent=min(i, 100), note="on track"),
                                        actor="bench")
            done += n
            print(started, time.monotonic(), lock.held, flush=True)
    finally:
        service.close()


class Writer:
    """The parent's handle on one writer process."""

    def __init__(self, database_url: str, index: int) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bench.postgres_writers", database_url, str(index)],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def answer(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            msg = f"writer process exited with {self.process.wait()}"
            raise WriterFailed(msg)
        return line

    def order(self, n: int) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(f"{n}\n")
        self.process.stdin.flush()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.order(0)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class WriterFailed(Exception):
    """A writer process died."""


@dataclass(frozen=True)
class Round:
    """One round of writers: their commands per second, the share of their time spent from LOCK TABLE to
    COMMIT, that time per command, and how many CPUs the whole machine kept busy meanwhile."""

    rate: float
    lock_share: float
    lock_ms: float
    busy_cpus: float


def cpu_ticks() -> tuple[int, int]:
    """The machine's (busy, total) CPU time so far, in clock ticks, from /proc/stat: every process counts, the
    writers and their PostgreSQL backends and the server's own WAL writer alike."""
    with open("/proc/stat", encoding="ascii") as f:
        fields = [int(v) for v in f.readline().split()[1:9]]
    idle = fields[3] + fields[4]  # idle, iowait
    return sum(fields) - idle, sum(fields)


def run_round(writers: list[Writer], n: int) -> Round:
    """Every given writer runs `n` commands at once."""
    busy_before, total_before = cpu_ticks()
    for w in writers:
        w.order(n)
    spans = [tuple(map(float, w.answer().split())) for w in writers]
    busy_after, total_after = cpu_ticks()
    held = sum(s[2] for s in spans)
    wall = max(s[1] for s in spans) - min(s[0] for s in spans)
    busy = (busy_after - busy_before) / max(total_after - total_before, 1) * (os.cpu_count() or 1)
    return Round(n * len(writers) / wall, held / sum(s[1] - s[0] for s in spans), held / (n * len(writers)) * 1000,
                 busy)


def measure(sizes: Sizes, workdir: object) -> list[Figure]:
    try:
        database_url = create_database()
    except psycopg.Error as e:
        return [not_measured(NAME, 3.0, "higher", BASELINE, f"PostgreSQL is not reachable at {admin_url()}: "
                             f"{str(e).strip().splitlines()[0]}")]
    try:
        one, eight = measure_on(database_url, sizes)
    except WriterFailed as e:
        return [not_measured(NAME, 3.0, "higher", BASELINE, str(e))]
    finally:
        drop_database(database_url)
    ratios = [a.rate / b.rate for a, b in zip(eight, one, strict=True)]
    alone = statistics.median(r.lock_share for r in one)
    note = (f"{sizes.pg_commands_per_writer} commands per writer x {sizes.rounds} rounds: 8 writers "
            f"{per_second([r.rate for r in eight])}, 1 writer {per_second([r.rate for r in one])} (per round: "
            f"{', '.join(f'{r:.2f}' for r in ratios)}); a lone writer spends {alone:.0%} of "
            f"its time from the library's LOCK TABLE .. EXCLUSIVE to its COMMIT, which other writers cannot overlap "
            f"(roughly {1 / alone:.1f}x at best): {statistics.median(r.lock_ms for r in one):.2f} ms per command alone, "
            f"while 8 writers finished one command every {1000 / statistics.median(r.rate for r in eight):.2f} ms, "
            f"handing the lock from process to process on {os.cpu_count()} busy CPUs; a lone writer's rounds kept "
            f"{statistics.median(r.busy_cpus for r in one):.2f} CPUs of the machine busy (writer, server backend, WAL "
            f"writer), so {os.cpu_count()} CPUs allow at most "
            f"{(os.cpu_count() or 1) / statistics.median(r.busy_cpus for r in one):.1f}x one writer even without "
            f"the lock; 8 writers kept {statistics.median(r.busy_cpus for r in eight):.2f} busy")
    return [Figure(NAME, statistics.median(ratios), 3.0, "higher", BASELINE, note)]


def measure_on(database_url: str, sizes: Sizes) -> tuple[list[Round], list[Round]]:
    """Rounds of 1 writer and of 8 writers, alternating: (rate, share of time under the lock) for each round."""
    writers: list[Writer] = []
    try:
        for index in range(WRITERS):
            writers.append(Writer(database_url, index))
        for w in writers:
            w.answer()
        for w in writers:  # warm up every writer's cache and connection
            w.order(5)
            w.answer()
        one: list[Round] = []
        eight: list[Round] = []
        for round_index in range(sizes.rounds):
            order = [(one, writers[:1]), (eight, writers)]
            for rounds, group in order if round_index % 2 == 0 else reversed(order):
                rounds.append(run_round(group, sizes.pg_commands_per_writer))
        return one, eight
    finally:
        for w in writers:
            w.stop()


if __name__ == "__main__":
    writer(sys.argv[1], int(sys.argv[2]))
