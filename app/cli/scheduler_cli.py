"""CLI for the scheduler: `scheduler sweep` (one sweep, now) and `scheduler run` (long-running, stops on SIGTERM)."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from types import FrameType
from typing import Annotated

import typer
from rich.markup import escape

from app.cli.reads import parse_date
from app.cli.runtime import console, errors, fail, print_json, runtime
from app.durability import check_durability
from app.reminders import build_scheduler, sweep_once
from scheduler.ladder import BadLadder
from scheduler.sweep import SweepReport

AsOf = Annotated[str | None, typer.Option(
    "--as-of", help="The day to sweep for (YYYY-MM-DD; default today in the configured zone).")]
LockWait = Annotated[float | None, typer.Option(
    "--lock-wait", min=0,
    help="Seconds to wait for an active scheduler's lock before sweeping without sending "
         "(default $COMMITMENTS_SCHEDULER_LOCK_WAIT_SECONDS).")]
Interval = Annotated[float | None, typer.Option(
    "--interval", min=1, help="Seconds between sweeps (default $COMMITMENTS_SCHEDULER_INTERVAL_SECONDS).")]
scheduler_app = typer.Typer(help="Flag overdue milestones and send reminders.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(scheduler_app, name="scheduler")


def _log_to_stderr() -> None:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")


@scheduler_app.command("sweep")
def sweep_command(
    ctx: typer.Context,
    as_of: AsOf = None,
    lock_wait: LockWait = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """One sweep: flag what is overdue on the day, send the reminders that have come due, print what it did."""
    _log_to_stderr()
    state = runtime(ctx)
    service = state.service()
    day = parse_date(as_of, "--as-of") or service.today()
    wait = state.settings.scheduler_lock_wait_seconds if lock_wait is None else lock_wait
    try:
        report = sweep_once(service, state.settings, day, wait)
    except BadLadder as e:
        fail(str(e))
    if as_json:
        print_json(report.as_dict())
        return
    _print_report(report)


@scheduler_app.command("run")
def run_command(
    ctx: typer.Context,
    interval: Interval = None,
) -> None:
    """Run the scheduler until SIGTERM or Ctrl-C: a sweep at start-up, then one every interval, while it leads."""
    _log_to_stderr()
    state = runtime(ctx)
    settings = state.settings if interval is None else state.settings.model_copy(
        update={"scheduler_interval_seconds": interval})
    try:
        scheduler = build_scheduler(state.service(), settings)
    except BadLadder as e:
        fail(str(e))
    durability = check_durability(state.service().ledger)  # issue 7: say whether acknowledged writes survive a crash
    errors.print(f"store: {durability.backend} ({', '.join(f'{k}={v}' for k, v in durability.settings.items())})")
    for warning in durability.warnings:
        errors.print(f"warning: {warning}")
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    scheduler.start()
    errors.print("scheduler " + ("active" if scheduler.is_leader else "standing by: another scheduler holds the lock"))
    while not stop.wait(0.5):
        pass
    scheduler.shutdown()
    errors.print("scheduler stopped")


def _print_report(report: SweepReport) -> None:
    def say(line: str) -> None:
        console.print(line, soft_wrap=True)

    say(f"sweep as of {report.as_of}: views caught up by {report.caught_up} event(s)")
    for flag in report.flagged:
        say(f"[yellow]flagged[/yellow] {escape(flag.agreement_ref)}/{escape(flag.milestone_id)} (due {flag.due_on})")
    say(f"already flagged: {report.already_flagged}")
    if not report.delivering:
        say("reminders not sent: another scheduler holds the lock and sends them")
        return
    for r in report.reminders:
        colour = "green" if r.outcome == "sent" else "red"
        say(f"[{colour}]{r.outcome}[/{colour}] {r.rung} for {escape(r.agreement_ref)}/{escape(r.milestone_id)} to "
            f"{escape(r.recipient)} via {r.channel} ({r.attempts} attempt(s)): {escape(r.detail)}")
    say(f"already reminded: {report.already_reminded}")
    for line in report.unreachable:
        say(f"no contact: {escape(line)}")
    if report.deferred:
        say(f"deferred to the next sweep (cap per run reached): {report.deferred}")
    if report.duplicates:
        say(f"[red]delivered twice (recorded by another sweep first): {report.duplicates}[/red]")
    if report.lock_lost:
        say("[red]the scheduler lock was lost: reminders stopped early[/red]")
