"""`python -m bench [--quick] [--json]`: measure every figure of DESIGN section 9, print the table or the JSON object."""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from bench import FULL, QUICK, Figure, Sizes, catch_up, command_path, history_latency, http_api, overdue, peak_memory, postgres_writers
from bench.machine import description, load_average
from bench.report import as_json, table, write_results

Measure = Callable[[Sizes, Path], list[Figure]]
MEASURES: list[tuple[str, Measure]] = [
    ("command path", command_path.measure),
    ("latency over history", history_latency.measure),
    ("projection catch-up", catch_up.measure),
    ("overdue query", overdue.measure),
    ("HTTP", http_api.measure),
    ("PostgreSQL writers", postgres_writers.measure),
    ("peak memory", peak_memory.measure),
]


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes, under a minute (CI); does not write RESULTS.md")
    parser.add_argument("--json", action="store_true", help="print only one JSON object: {figure: {value, target, met}}")
    parser.add_argument("--only", action="append", metavar="NAME", choices=[name for name, _ in MEASURES],
                        help="measure only this group (repeatable); does not write RESULTS.md")
    return parser.parse_args(argv)


def progress(message: str, *, quiet: bool) -> None:
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    args = parse(arguments)
    sizes = QUICK if args.quick else FULL
    load_at_start = load_average()
    started = time.perf_counter()
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="commitments-bench-") as scratch:
        for name, measure in MEASURES:
            if args.only and name not in args.only:
                continue
            workdir = Path(scratch) / name.replace(" ", "-")
            workdir.mkdir()
            group_started = time.perf_counter()
            figures += measure(sizes, workdir)
            progress(f"{name}: {time.perf_counter() - group_started:.1f} s", quiet=args.json)
    elapsed = time.perf_counter() - started
    for figure in figures:
        if figure.value is None:
            print(f"{figure.name}: {figure.note}", file=sys.stderr)
    if args.json:
        print(as_json(figures))
    else:
        print(table(figures))
        print(f"\n{sum(f.met for f in figures)} of {len(figures)} targets met in {elapsed:.0f} s"
              f"{' (--quick: small sizes)' if args.quick else ''}")
    if not args.quick and not args.only:
        machine = {**description(), "load average at the start (1, 5, 15 min)": load_at_start}
        path = write_results(figures, machine, shlex.join(["python", "-m", "bench", *arguments]), elapsed)
        progress(f"wrote {path}", quiet=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
