"""Figures: the peak memory of `commitments export` and `commitments audit verify` at 200,000 events, over 50,000.

Each command runs as its own process on a store built for the purpose (the small store is
the first quarter of the large one: the same agreements, 100 events each), and its peak
resident set size is read from the kernel when it exits (`wait4`, ru_maxrss). A command
that streams the log has the same peak at any size; one that holds the log grows with it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from bench import Figure, Sizes, not_measured
from bench.command_path import service_at
from bench.store import StoreWriter, due_dates_around, history, write_agreements

EXPORT_NAME, VERIFY_NAME = "export_peak_memory_200k_vs_50k", "audit_verify_peak_memory_200k_vs_50k"
EVENTS_PER_AGREEMENT = 100
COMMANDS = {
    EXPORT_NAME: ["export", "--format", "jsonl", "--output", "{out}"],
    VERIFY_NAME: ["audit", "verify", "--json"],
}


class CommandFailed(Exception):
    """The command under measurement did not succeed."""


def peak_rss_kib(database: Path, args: list[str], out: Path) -> int:
    """Run one `commitments` command to completion; its peak resident set size in KiB."""
    command = [sys.executable, "-c", "import sys; from app.cli import main; main(sys.argv[1:])",
               "--db", f"sqlite:///{database}", *(a.format(out=out) for a in args)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.stderr is not None
    error = process.stderr.read().decode(errors="replace").strip()
    process.stderr.close()
    if process.returncode != 0:
        msg = f"`commitments {' '.join(args[:2])}` exited with {process.returncode}: {error[-200:]}"
        raise CommandFailed(msg)
    return int(usage.ru_maxrss)


def build_stores(workdir: Path, small: int, large: int) -> tuple[Path, Path]:
    paths = workdir / "memory-small.db", workdir / "memory-large.db"
    services = [service_at(path) for path in paths]
    try:
        due = due_dates_around(date(2026, 11, 29), 5)
        writers = [StoreWriter(services[0].ledger, limit=small), StoreWriter(services[1].ledger, limit=large)]
        agreements = (history(f"memory-{i}", EVENTS_PER_AGREEMENT, 10, due) for i in range(large // EVENTS_PER_AGREEMENT + 1))
        write_agreements(writers, agreements)
    finally:
        for service in services:
            service.close()
    return paths


def measure(sizes: Sizes, workdir: Path) -> list[Figure]:
    small, large = sizes.memory_small_events, sizes.memory_large_events
    baseline = f"the same command at {small:,} events"
    small_path, large_path = build_stores(workdir, small, large)
    scale = "" if (small, large) == (50_000, 200_000) else f" (--quick: {small:,} and {large:,} events instead of 50,000 and 200,000)"
    figures = []
    for name, args in COMMANDS.items():
        try:
            peaks = [peak_rss_kib(path, args, workdir / f"{name}.out") for path in (small_path, large_path, small_path)]
        except CommandFailed as e:
            figures.append(not_measured(name, 1.2, "lower", baseline, str(e)))
            continue
        note = f"peak RSS {peaks[1] / 1024:.1f} MiB at {large:,} events, {min(peaks[0], peaks[2]) / 1024:.1f} MiB at {small:,}{scale}"
        figures.append(Figure(name, peaks[1] / min(peaks[0], peaks[2]), 1.2, "lower", baseline, note))
    return figures
