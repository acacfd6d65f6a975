"""`commitments serve`: the HTTP API, the web UI, the projection runner and the scheduler in one process."""

from __future__ import annotations

import logging
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.runtime import console, runtime

if TYPE_CHECKING:
    import uvicorn

    from app.api.backend import Backend, SchedulerLike

log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def serve(ctx: typer.Context,
          host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
          port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on.")] = 8000,
          no_scheduler: Annotated[bool, typer.Option("--no-scheduler", help="Do not run the reminder scheduler.")] = False,
          demo: Annotated[bool, typer.Option("--demo", help="Load the demo agreements first (idempotent).")] = False,
          ) -> None:
    """Serve the web UI and the HTTP API until stopped (Ctrl-C or SIGTERM shut it down cleanly)."""
    # The web stack is imported here, not at module level, so other commands start quickly.
    import uvicorn

    from app.api import create_app
    from app.api.backend import Backend
    from app.demo import load_demo

    settings = runtime(ctx).settings
    backend = Backend.build(settings)
    try:
        _report_durability(backend)
        if demo:
            load_demo(backend.service)
            _first_admin(backend)
        scheduler = None if no_scheduler else build_scheduler(backend)
        app = create_app(settings, backend=backend, background=True, scheduler=scheduler)
        console.print(f"[green]serving[/green] http://{host}:{port}/  (API schema: /openapi.json, health: /healthz)"
                      + ("" if scheduler else "  [dim]scheduler off[/dim]"))
        server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False))
        stopped_by = _run_until_signalled(server)
        console.print(f"[green]stopped[/green] ({stopped_by or 'server exited'})")
    finally:
        backend.close()


def _report_durability(backend: Backend) -> None:
    """Issue 7: read the store's durability settings back at start-up; warn when a commit may not survive a crash."""
    from app.durability import check_durability

    report = check_durability(backend.service.ledger)
    facts = ", ".join(f"{name}={value}" for name, value in report.settings.items())
    console.print(f"store: {report.backend} ({facts})")
    for warning in report.warnings:
        console.print(f"[yellow]warning:[/yellow] {warning}")
        log.warning("%s", warning)


def _run_until_signalled(server: uvicorn.Server) -> str | None:
    """Serve until SIGINT or SIGTERM. uvicorn handles the signal (stops accepting, finishes requests, runs the
    lifespan exit: scheduler and projection runner stop) and then re-raises it; ours records it, so the process
    ends with status 0 after a clean shutdown instead of dying by the signal."""
    received: list[str] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda number, frame: received.append(signal.Signals(number).name))
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received[0] if received else None


def build_scheduler(backend: Backend) -> SchedulerLike | None:
    """The reminder scheduler of app/reminders.py, on the backend's service."""
    from app import reminders

    scheduler: SchedulerLike = reminders.build_scheduler(backend.service, backend.settings)
    return scheduler


def _first_admin(backend: Backend) -> None:
    """On a database with no users at all, the demo creates one admin so the UI can be opened at once."""
    if backend.users.list():
        return
    _, token = backend.users.add("demo-admin", "admin")
    console.print("[green]created user demo-admin (admin).[/green] Sign in with this token (shown once):")
    print(token, flush=True)
