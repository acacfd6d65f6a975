"""Figure: the latency of one command on an agreement with 10,000 events of history, over one with 10 events.

Both agreements live in the same store and take commands in alternation, so the disk and
the machine's load are shared; the figure is the ratio of the median latencies. The cold
load (the first command after start-up: latest snapshot plus the events after it) is
reported beside it.
"""

from __future__ import annotations

import statistics
import time
from datetime import date
from pathlib import Path
from uuid import uuid4

from app import commands as c
from app.service import CommitmentService
from bench import Figure, Sizes
from bench.command_path import service_at
from bench.store import StoreWriter, due_dates_around, history, milestone_id, write_agreements

NAME = "latency_10000_vs_10_events"
SHORT, LONG = 10, 10_000


def timed_command(service: CommitmentService, ref: str, percent: int) -> float:
    """One command with an idempotency key, as an API client sends it: the agreement remembers every key."""
    command = c.ReportProgress(percent=percent, note="on track", reason="revised estimate", command_id=f"bench-{ref}-{uuid4().hex}")
    started = time.perf_counter()
    service.report_progress(ref, milestone_id(0), command, actor="bench")
    return time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(share * len(ordered)), len(ordered) - 1)]


def measure(sizes: Sizes, workdir: Path) -> list[Figure]:
    long_history = sizes.history
    service = service_at(workdir / "latency.db")
    try:
        due = due_dates_around(date(2026, 11, 29), 2)
        write_agreements([StoreWriter(service.ledger, limit=long_history + SHORT + 1)],
                         [history("short-history", SHORT, 2, due), history("long-history", long_history, 2, due)])
        cold = {ref: timed_command(service, ref, 1) for ref in ("short-history", "long-history")}
        latencies: dict[str, list[float]] = {"short-history": [], "long-history": []}
        for i in range(sizes.latency_samples):
            for ref in ("short-history", "long-history") if i % 2 == 0 else ("long-history", "short-history"):
                latencies[ref].append(timed_command(service, ref, i % 100))
    finally:
        service.close()
    short_ms, long_ms = (statistics.median(latencies[ref]) * 1000 for ref in ("short-history", "long-history"))
    short_p99, long_p99 = (percentile(latencies[ref], 0.99) * 1000 for ref in ("short-history", "long-history"))
    scale = "" if long_history == LONG else f" (--quick: {long_history:,} events instead of {LONG:,})"
    note = (f"median of {sizes.latency_samples} alternating commands: {long_ms:.2f} ms at {long_history:,} events, "
            f"{short_ms:.2f} ms at {SHORT}{scale}; p99 {long_p99:.2f} ms vs {short_p99:.2f} ms; "
            f"cold first command {cold['long-history'] * 1000:.1f} ms vs "
            f"{cold['short-history'] * 1000:.1f} ms")
    return [Figure(NAME, long_ms / short_ms, 1.3, "lower", f"the same command at {SHORT} events of history", note)]
