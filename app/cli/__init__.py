"""The `commitments` command line: a thin adapter over the application service."""

from __future__ import annotations

import sqlite3
import sys
from typing import Annotated

import typer
from eventsourcing.persistence import PersistenceError
from pydantic import ValidationError
from typer.exceptions import TyperException

from app.cli import audit_cli, projections_cli, reads, scheduler_cli, serve_cli, users_cli, writes
from app.cli.runtime import Runtime, validation_message
from app.errors import ApplicationError
from app.ledger import BadDatabaseURL
from app.settings import Settings
from domain.errors import DomainError

app = typer.Typer(
    name="commitments",
    help="Track public agreements and what they commit to: every fact an immutable, hash-chained event.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def root(ctx: typer.Context,
         db: Annotated[str | None, typer.Option(
             "--db", help="Database URL (default: $COMMITMENTS_DATABASE_URL or sqlite:///commitments.db).")] = None) -> None:
    overrides = {"database_url": db} if db else {}
    ctx.obj = Runtime(Settings(**overrides))  # type: ignore[arg-type]
    ctx.call_on_close(ctx.obj.close)


for module in (writes, reads, projections_cli, scheduler_cli, audit_cli, users_cli, serve_cli):
    module.register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point. Bad input of any kind ends in one line on stderr and exit code 2, never a traceback."""
    try:
        outcome = app(args=argv, standalone_mode=False)
        if isinstance(outcome, int) and outcome:
            sys.exit(outcome)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        sys.exit(130)
    except TyperException as e:
        # Usage errors (unknown options, missing arguments) from the parser Typer ships.
        _fail(e.format_message() if hasattr(e, "format_message") else str(e))
    except ValidationError as e:
        _fail(validation_message(e))
    except (DomainError, ApplicationError, BadDatabaseURL) as e:
        _fail(str(e))
    except (PersistenceError, sqlite3.Error) as e:
        # The store named by --db cannot be opened or used (no such directory, not a database, server down, locked).
        _fail(f"database error: {e}")
    except RecursionError:
        # Issue 7: a JSON file nested thousands of levels deep is bad input, not a crash.
        _fail("the input is nested too deeply")


def _fail(message: str) -> None:
    print(f"error: {message.splitlines()[0] if message else 'bad input'}", file=sys.stderr)
    sys.exit(2)
