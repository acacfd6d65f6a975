"""Figure: commands per second with 8 writer processes on different agreements, over 1 writer, on PostgreSQL.

Eight worker processes start once; in each round either worker 0 alone or all eight run
the same number of commands each, on agreements of their own, and the throughput is the
commands done over the wall time from the first start to the last finish.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

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


@contextlib.contextmanager
def scratch_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for this run, dropped afterwards; yields its URL."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url(), autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin_url().rsplit('/', 1)[0]}/{name}"
    finally:
        with psycopg.connect(admin_url(), autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def writer(database_url: str, index: int) -> None:
    """One writer process: on a first line on stdin, opens the store and signs its own agreement; then for each
    number `n` read on stdin runs `n` commands and answers "started finished" (the monotonic clock, which all
    processes on the machine share); 0 ends it."""
    # Opening the store runs the library's CREATE ... IF NOT EXISTS, which PostgreSQL does not make safe
    # against itself in another session ("tuple concurrently updated"): the parent opens them one at a time.
    sys.stdin.readline()
    service = CommitmentService(Settings(database_url=database_url))
    ref, done = f"writer-{index}", 0
    try:
        sign_for_bench(service, ref)
        print("ready", flush=True)
        for line in sys.stdin:
            if (n := int(line)) <= 0:
                break
            started = time.monotonic()
            for i in range(done, done + n):
                service.report_progress(ref, milestone_id(0), c.ReportProgress(percent=min(i, 100), note="on track"),
                                        actor="bench")
            done += n
            print(started, time.monotonic(), flush=True)
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


def run_round(writers: list[Writer], n: int) -> float:
    """Commands per second of the given writers, each doing `n` at once."""
    for w in writers:
        w.order(n)
    spans = [tuple(map(float, w.answer().split())) for w in writers]
    return n * len(writers) / (max(end for _, end in spans) - min(start for start, _ in spans))


def measure(sizes: Sizes, workdir: object) -> list[Figure]:
    try:
        database = scratch_database()
        database_url = database.__enter__()
    except psycopg.Error as e:
        return [not_measured(NAME, 3.0, "higher", BASELINE, f"PostgreSQL is not reachable at {admin_url()}: "
                             f"{str(e).strip().splitlines()[0]}")]
    writers: list[Writer] = []
    try:
        # The schema first, from one process, so the writers do not race to create it.
        CommitmentService(Settings(database_url=database_url)).close()
        writers = [Writer(database_url, index) for index in range(WRITERS)]
        for w in writers:
            w.order(1)
            w.answer()
        for w in writers:  # warm up every writer's cache and connection
            w.order(5)
            w.answer()
        one: list[float] = []
        eight: list[float] = []
        for round_index in range(sizes.rounds):
            order = [(one, writers[:1]), (eight, writers)]
            for rates, group in order if round_index % 2 == 0 else reversed(order):
                rates.append(run_round(group, sizes.pg_commands_per_writer))
    except WriterFailed as e:
        return [not_measured(NAME, 3.0, "higher", BASELINE, str(e))]
    finally:
        for w in writers:
            w.stop()
        database.__exit__(None, None, None)
    ratio = sorted(a / b for a, b in zip(eight, one, strict=True))[len(one) // 2]
    note = (f"{sizes.pg_commands_per_writer} commands per writer x {sizes.rounds} rounds: 8 writers {per_second(eight)}, "
            f"1 writer {per_second(one)}; {os.cpu_count()} CPUs")
    return [Figure(NAME, ratio, 3.0, "higher", BASELINE, note)]


if __name__ == "__main__":
    writer(sys.argv[1], int(sys.argv[2]))
