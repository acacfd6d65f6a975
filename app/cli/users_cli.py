"""CLI commands for API users: add (prints the token once), list, revoke."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from app.cli.runtime import console, fail, print_json, runtime
from app.users import ROLES, UserError, UserStore

users = typer.Typer(name="users", help="Manage API and web UI users and their tokens.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(users)


def _store(ctx: typer.Context) -> UserStore:
    store = UserStore(runtime(ctx).settings.database_url)
    ctx.call_on_close(store.close)
    return store


@users.command("add")
def add(ctx: typer.Context, name: str,
        role: Annotated[str, typer.Option("--role", help=f"One of: {', '.join(ROLES)}.")],
        org: Annotated[str | None, typer.Option("--org", help="The official's organisation (a party short name).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False) -> None:
    """Add a user and print a new token. It is shown this once; only its hash is stored."""
    try:
        user, token = _store(ctx).add(name, role, org)
    except UserError as e:
        fail(str(e))
    if as_json:
        print_json({**user.as_dict(), "token": token})
        return
    where = f" for {user.org}" if user.org else ""
    console.print(f"[green]added[/green] {user.name} ({user.role}{where}). Token (shown once, keep it safe):")
    print(token)


@users.command("list")
def list_users(ctx: typer.Context,
               as_json: Annotated[bool, typer.Option("--json", help="Print JSON only.")] = False) -> None:
    """List every user token issued, with its role, organisation and whether it is revoked."""
    rows = [u.as_dict() for u in _store(ctx).list()]
    if as_json:
        print_json(rows)
        return
    table = Table(title="Users")
    for column in ("name", "role", "org", "created", "revoked"):
        table.add_column(column)
    for row in rows:
        table.add_row(str(row["name"]), str(row["role"]), str(row["org"] or ""), str(row["created_at"]),
                      str(row["revoked_at"] or ""))
    console.print(table)


@users.command("revoke")
def revoke(ctx: typer.Context, name: str) -> None:
    """Revoke a user's tokens: they stop working at once."""
    try:
        count = _store(ctx).revoke(name)
    except UserError as e:
        fail(str(e))
    console.print(f"[green]revoked[/green] {count} token(s) of {name}")
