"""CLI audit commands: verify the hash chains, take a digest, diff two versions, export and import the log."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TextIO

import typer
from rich.table import Table

from app.audit import MalformedDigest, Report, parse_digest, take_digest, verify_store
from app.audit.diff import diff_versions
from app.cli.runtime import console, fail, print_json, runtime
from app.exports import EXPORTERS, BadImport, import_jsonl

Json = Annotated[bool, typer.Option("--json", help="Print JSON only.")]

audit_app = typer.Typer(help="Prove the history is whole and unaltered.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")
    app.command("diff")(diff)
    app.command("export")(export)
    app.command("import")(import_log)


@audit_app.command("verify")
def verify(ctx: typer.Context,
           digest: Annotated[str | None, typer.Option("--digest", help="A digest from `audit digest`: "
                                                      "also prove everything it covers is still there, unchanged.")] = None,
           as_json: Json = False) -> None:
    """Recompute every agreement's hash chain from the stored rows. Exit 1 if anything is wrong."""
    try:
        covered = parse_digest(digest) if digest is not None else None
    except MalformedDigest as e:
        fail(f"--digest: {e}")
    report = verify_store(runtime(ctx).service(), covered)
    _print_report(report, as_json, "the store extends the digest" if covered else "")
    if not report.ok:
        raise typer.Exit(1)


@audit_app.command("digest")
def digest(ctx: typer.Context, as_json: Json = False) -> None:
    """Print one digest over the heads of all chains, for an auditor to keep. Exit 1 if the store does not verify."""
    report, taken = take_digest(runtime(ctx).service())
    if taken is None:
        _print_report(report, as_json, "")
        raise typer.Exit(1)
    if as_json:
        print_json({"digest": str(taken), "root": taken.root, "agreements": len(taken.heads),
                    "events": report.events_checked})
    else:
        sys.stdout.write(f"{taken}\n")


def diff(ctx: typer.Context, ref: str,
         v1: Annotated[int, typer.Argument(help="The earlier version.")],
         v2: Annotated[int, typer.Argument(help="The later version.")],
         as_json: Json = False) -> None:
    """What changed in one agreement between two versions, in words."""
    changes = diff_versions(runtime(ctx).service(), ref, v1, v2)
    if as_json:
        print_json(changes)
        return
    console.print(f"[bold]{ref}[/bold]: version {v1} -> {v2}")
    for event in changes["events"]:
        console.print(f"  v{event['version']} {event['type']} (effective {event['effective_on']}, "
                      f"recorded {event['recorded_at'][:19]}, by {event['actor']})")
    for change in changes["changes"] or ["nothing changed"]:
        console.print(f"  - {change}")


def export(ctx: typer.Context,
           export_format: Annotated[str, typer.Option("--format", help="jsonl (the event log with hashes), "
                                                      "csv (milestones) or ocds (OCDS-style records).")] = "jsonl",
           output: Annotated[Path | None, typer.Option("--output", help="Write to this file (default: stdout).")] = None
           ) -> None:
    """Export the event log, the milestones or OCDS records, streaming."""
    exporter = EXPORTERS.get(export_format)
    if exporter is None:
        fail(f"--format must be one of {', '.join(EXPORTERS)}, got {export_format!r}")
    service = runtime(ctx).service()
    with _opened(output) as stream:
        count = exporter(service, stream)
    if output is not None:
        console.print(f"exported {count} {'events' if export_format == 'jsonl' else 'records'} to {output}")


def import_log(ctx: typer.Context,
               file: Annotated[Path, typer.Argument(help="A JSON Lines event log written by `export --format jsonl`.")],
               as_json: Json = False) -> None:
    """Restore an exported event log into an empty database, refusing a log whose chains do not verify."""
    try:
        imported = import_jsonl(runtime(ctx).service(), file)
    except BadImport as e:
        fail(str(e))
    if as_json:
        print_json(imported)
    else:
        console.print(f"imported {imported['events']} events of {imported['agreements']} agreements; "
                      "every chain verifies")


def _print_report(report: Report, as_json: bool, extra: str) -> None:
    if as_json:
        print_json(report.as_dict())
        return
    if report.ok:
        console.print(f"[green]ok[/green]: {report.agreements_checked} agreements, {report.events_checked} events, "
                      f"every chain intact{'; ' + extra if extra else ''}")
        return
    table = Table(title=f"{len(report.problems)} problems in {report.events_checked} events")
    for column in ("agreement", "version", "position", "problem"):
        table.add_column(column)
    for p in report.problems:
        table.add_row(p.agreement or "-", _text(p.version), _text(p.position), p.problem)
    console.print(table)


def _text(value: int | None) -> str:
    return "-" if value is None else str(value)


@contextmanager
def _opened(output: Path | None) -> Iterator[TextIO]:
    if output is None:
        yield sys.stdout
        return
    try:
        stream = output.open("w", encoding="utf-8", newline="")
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror or e}")
    with stream:
        yield stream


Exporter = Callable[[Any, TextIO], int]
