"""CLI commands for the read models: status (position and lag), catch-up, rebuild (with a progress bar), run."""

from __future__ import annotations

import signal
import threading
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from app.cli.runtime import console, errors, print_json, runtime

Json = Annotated[bool, typer.Option("--json", help="Print JSON only.")]

projections = typer.Typer(help="The read models: their lag, catching up, rebuilding from the events.",
                          no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(projections, name="projections")


@projections.command("status")
def status(ctx: typer.Context, as_json: Json = False) -> None:
    """Each view's position in the event log and its lag (events stored but not yet in the view)."""
    rows = runtime(ctx).service().views.status()
    if as_json:
        print_json(rows)
        return
    table = Table(title="Projections")
    for column in ("view", "position", "lag"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["name"], str(row["position"]), str(row["lag"]))
    console.print(table)


@projections.command("catch-up")
def catch_up(ctx: typer.Context, as_json: Json = False) -> None:
    """Apply every event stored so far to every view."""
    applied = runtime(ctx).service().views.catch_up()
    _report({"applied": applied}, as_json, f"projections: {applied} event(s) applied")


@projections.command("rebuild")
def rebuild(ctx: typer.Context, as_json: Json = False) -> None:
    """Drop every view and rebuild it from the events (safe to stop and run again)."""
    views = runtime(ctx).service().views
    with Progress(TextColumn("rebuilding views"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=errors, disable=as_json) as bar:
        task = bar.add_task("rebuild", total=None)

        def advance(position: int, target: int) -> None:
            bar.update(task, completed=position, total=target)

        applied = views.rebuild(advance)
    _report({"applied": applied, "views": views.status()}, as_json, f"projections: rebuilt from {applied} event(s)")


@projections.command("run")
def run(ctx: typer.Context,
        poll: Annotated[float, typer.Option("--poll", min=0.05, help="Seconds between polls when idle.")] = 0.5) -> None:
    """Keep the views caught up until stopped (Ctrl-C or SIGTERM)."""
    views = runtime(ctx).service().views
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    errors.print(f"projections: tailing the event log every {poll}s; Ctrl-C to stop")
    views.run(stop, poll)


def _report(value: dict[str, Any], as_json: bool, message: str) -> None:
    if as_json:
        print_json(value)
    else:
        console.print(message)
