"""Figure: the overdue query on the milestones view, against replaying every agreement to find the same milestones.

The store holds 10,000 agreements with 100,000 milestones (in --quick, a tenth of that);
one agreement in ten has an overdue milestone. Both sides must find the same milestones.
"""

from __future__ import annotations

import contextlib
import sqlite3
import statistics
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

from app.service import CommitmentService
from bench import Figure, Sizes, not_measured
from bench.catch_up import ViewsMissing, read_models
from bench.command_path import service_at
from bench.store import StoreWriter, history, milestone_id, write_agreements
from bench.timing import seconds

NAME = "overdue_query_vs_replay"
BASELINE = "replaying every agreement from the store and checking each milestone"
AS_OF = date(2026, 11, 29)
FULL_AGREEMENTS, FULL_MILESTONES = 10_000, 100_000
QUERY_RUNS = 7


def due_dates(agreement: int) -> Callable[[int], date]:
    """Milestone 0 of every tenth agreement is overdue on AS_OF; every other milestone is due later."""

    def due_on(index: int) -> date:
        overdue = index == 0 and agreement % 10 == 0
        return AS_OF - timedelta(days=5 + agreement % 300) if overdue else AS_OF + timedelta(days=20 + index * 30)

    return due_on


def replay_overdue(service: CommitmentService) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for ref in service.refs():
        agreement = service.agreement(ref)
        found.update((ref, mid) for mid in agreement.milestones if agreement.is_overdue(mid, AS_OF))
    return found


RAW_QUERY = ("SELECT agreement_ref, milestone_id, title, due_on, responsible FROM view_milestones "
             "WHERE is_open = 1 AND due_on < ? ORDER BY due_on, agreement_ref, milestone_id")


def raw_query_seconds(path: Path) -> str:
    """Diagnostic: the same SELECT through sqlite3 directly, without SQLAlchemy building it and converting the rows."""
    try:
        with contextlib.closing(sqlite3.connect(path)) as connection:
            runs = [seconds(lambda: connection.execute(RAW_QUERY, (AS_OF.isoformat(),)).fetchall()) for _ in range(QUERY_RUNS)]
    except sqlite3.Error as e:
        return f"; (the raw SELECT failed: {e})"
    return f"; the same SELECT through sqlite3 alone {statistics.median(runs) * 1000:.2f} ms"


def measure(sizes: Sizes, workdir: Path) -> list[Figure]:
    agreements, per = sizes.overdue_agreements, sizes.milestones_per_agreement
    service = service_at(workdir / "overdue.db")
    try:
        try:
            views = read_models(service)
        except ViewsMissing as e:
            return [not_measured(NAME, 1000.0, "higher", BASELINE, str(e))]
        events_each = 2 + per
        write_agreements([StoreWriter(service.ledger, limit=agreements * events_each)],
                         (history(f"overdue-{i}", events_each, per, due_dates(i)) for i in range(agreements)))
        views.catch_up()
        rows = views.overdue(AS_OF)
        query = statistics.median(seconds(lambda: views.overdue(AS_OF)) for _ in range(QUERY_RUNS))
        raw = raw_query_seconds(workdir / "overdue.db")
        started = time.perf_counter()
        replayed = replay_overdue(service)
        replay = time.perf_counter() - started
    finally:
        service.close()
    queried = {(row.agreement_ref, row.milestone_id) for row in rows}
    expected = {(f"overdue-{i}", milestone_id(0)) for i in range(0, agreements, 10)}
    scale = "" if agreements == FULL_AGREEMENTS else f" (--quick: {agreements:,} agreements instead of {FULL_AGREEMENTS:,})"
    note = (f"{agreements:,} agreements, {agreements * per:,} milestones, {len(rows):,} overdue{scale}: "
            f"query {query * 1000:.1f} ms (median of {QUERY_RUNS}), replay {replay:.2f} s{raw}")
    if queried != expected or replayed != expected:
        return [not_measured(NAME, 1000.0, "higher", BASELINE,
                             f"wrong answer: the view found {len(queried)}, replay {len(replayed)}, expected {len(expected)}")]
    return [Figure(NAME, replay / query, 1000.0, "higher", BASELINE, note)]
