"""`commitments serve`: the HTTP API, the web UI, the projection runner and the scheduler in one process."""

from __future__ import annotations

import importlib
import logging
from typing import Annotated, Any

import typer
import uvicorn

from app.api import create_app
from app.api.backend import Backend, SchedulerLike
from app.cli.runtime import console, runtime
from app.demo import load_demo

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
    settings = runtime(ctx).settings
    backend = Backend.build(settings)
    try:
        if demo:
            load_demo(backend.service)
            _first_admin(backend)
        scheduler = None if no_scheduler else build_scheduler(backend)
        app = create_app(settings, backend=backend, background=True, scheduler=scheduler)
        console.print(f"[green]serving[/green] http://{host}:{port}/  (API schema: /openapi.json, health: /healthz)"
                      + ("" if scheduler else "  [dim]scheduler off[/dim]"))
        # uvicorn installs its own SIGINT/SIGTERM handlers: it stops accepting, finishes requests, runs the lifespan exit.
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=False)).run()
    finally:
        backend.close()


def build_scheduler(backend: Backend) -> SchedulerLike | None:
    """The reminder scheduler from app/reminders.py, if that part of the project is installed."""
    try:
        reminders: Any = importlib.import_module("app.reminders")
    except ImportError:
        console.print("[yellow]reminders are not installed; serving without the scheduler[/yellow]")
        return None
    scheduler: SchedulerLike = reminders.build_scheduler(backend.service, backend.settings)
    return scheduler


def _first_admin(backend: Backend) -> None:
    """On a database with no users at all, the demo creates one admin so the UI can be opened at once."""
    if backend.users.list():
        return
    _, token = backend.users.add("demo-admin", "admin")
    console.print("[green]created user demo-admin (admin).[/green] Sign in with this token (shown once):")
    print(token, flush=True)
