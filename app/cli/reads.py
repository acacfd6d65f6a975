"""CLI read commands: list, show, history, overdue, portfolio; and the demo loader."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table

from app.cli.runtime import console, fail, print_json, print_json_lines, runtime
from app.demo import load_demo

Json = Annotated[bool, typer.Option("--json", help="Print JSON only.")]
_dates = TypeAdapter(date)


def parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return _dates.validate_python(value)
    except ValidationError:
        fail(f"{option}: {value!r} is not a date; use YYYY-MM-DD")


def register(app: typer.Typer) -> None:
    app.command("list")(list_agreements)
    app.command("show")(show)
    app.command("history")(history)
    app.command("demo")(demo)
    app.command("overdue")(overdue)
    app.command("portfolio")(portfolio)


def list_agreements(ctx: typer.Context, as_json: Json = False) -> None:
    """List every agreement with its term, funding and milestones."""
    rows = runtime(ctx).service().list_agreements()
    if as_json:
        print_json(rows)
        return
    table = Table(title="Agreements")
    for column in ("ref", "kind", "status", "term ends", "allocated", "disbursed", "milestones", "overdue"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["ref"], row["kind"], row["status"], row["ends_on"], _money(row["allocated"]),
                      _money(row["disbursed"]), str(row["milestones_open"]), str(row["overdue_count"]))
    console.print(table)


def overdue(ctx: typer.Context,
            as_of: Annotated[str | None, typer.Option("--as-of", help="The day to judge on (default: today).")] = None,
            as_json: Json = False) -> None:
    """Open milestones of active agreements that are past due (from the read models, caught up first)."""
    service = runtime(ctx).service()
    day = parse_date(as_of, "--as-of") or service.today()
    service.views.catch_up()
    rows: list[dict[str, Any]] = [{"agreement_ref": r.agreement_ref, "milestone_id": r.milestone_id, "title": r.title,
             "due_on": r.due_on.isoformat(), "days_overdue": r.days_overdue, "responsible": r.responsible}
            for r in service.views.overdue(day)]
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"Overdue on {day}")
    for column in ("agreement", "milestone", "title", "due", "days", "responsible"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["agreement_ref"], r["milestone_id"], r["title"], r["due_on"], str(r["days_overdue"]),
                      r["responsible"])
    console.print(table)


def portfolio(ctx: typer.Context, short_name: str,
              as_of: Annotated[str | None, typer.Option("--as-of", help="The day to judge overdue on.")] = None,
              as_json: Json = False) -> None:
    """One party's agreements and the milestones it is responsible for."""
    service = runtime(ctx).service()
    day = parse_date(as_of, "--as-of") or service.today()
    service.views.catch_up()
    found = service.views.portfolio(short_name, day)
    if found is None:
        fail(f"{short_name} is not a party to any agreement")
    if as_json:
        print_json(found)
        return
    console.print(f"[bold]{short_name}[/bold]: {len(found['agreements'])} agreement(s), "
                  f"{found['milestones_open']} open milestone(s), {found['overdue_count']} overdue on {day}")
    table = Table(title="Agreements")
    for column in ("ref", "role", "kind", "status", "ends"):
        table.add_column(column)
    for a in found["agreements"]:
        table.add_row(a["ref"], a["role"], a["kind"], a["status"], a["ends_on"])
    console.print(table)
    table = Table(title="Milestones it is responsible for")
    for column in ("agreement", "milestone", "due", "status", "%", "overdue"):
        table.add_column(column)
    for m in found["milestones"]:
        table.add_row(m["agreement_ref"], m["milestone_id"], m["due_on"], m["status"], str(m["percent"]),
                      "yes" if m["overdue"] else "")
    console.print(table)


def show(ctx: typer.Context, ref: str,
         as_of: Annotated[str | None, typer.Option("--as-of", help="State as recorded by the end of this date.")] = None,
         effective_on: Annotated[str | None, typer.Option("--effective-on", help="State as true in the world on this date.")] = None,
         as_json: Json = False) -> None:
    """Show one agreement: now, as recorded on a date, or as effective on a date."""
    if as_of and effective_on:
        fail("give --as-of or --effective-on, not both")
    service = runtime(ctx).service()
    as_of_date, effective_date = parse_date(as_of, "--as-of"), parse_date(effective_on, "--effective-on")
    if as_of_date is not None:
        state = service.show_as_of(ref, as_of_date)
    elif effective_date is not None:
        state = service.show_effective_on(ref, effective_date)
    else:
        state = service.show(ref)
    if as_json:
        print_json(state)
        return
    _print_agreement(state)


def history(ctx: typer.Context, ref: str, as_json: Json = False) -> None:
    """Every event of one agreement, oldest first, with recorded and effective dates and hashes."""
    entries = runtime(ctx).service().history(ref)
    if as_json:
        print_json_lines(entries)
        return
    table = Table(title=f"History of {ref}")
    for column in ("v", "type", "recorded at", "effective on", "actor", "facts", "hash"):
        table.add_column(column)
    for e in entries:
        facts = ", ".join(f"{k}={v}" for k, v in e["data"].items() if k not in ("title", "parties"))
        table.add_row(str(e["version"]), e["type"], e["recorded_at"][:19], e["effective_on"], e["actor"],
                      facts[:90], e["hash"][:12])
    console.print(table)


def demo(ctx: typer.Context, as_json: Json = False) -> None:
    """Load the five agreements of Morocco's 3rd National Industry Day (idempotent)."""
    service = runtime(ctx).service()
    before = service.max_position()
    results = load_demo(service)
    written = service.max_position() - before
    service.views.catch_up()  # the demo is read next: bring the read models up to it
    refs = sorted({r.ref for r in results})
    if as_json:
        print_json({"refs": refs, "events_written": written})
    else:
        console.print(f"demo: {len(refs)} agreements, {written} new events ({', '.join(refs)})")


def _money(amounts: dict[str, str]) -> str:
    return ", ".join(f"{float(v):,.0f} {k}" for k, v in amounts.items()) or "-"


def _print_agreement(state: dict[str, Any]) -> None:
    console.print(f"[bold]{state['ref']}[/bold] ({state['kind']}, {state['status']}, version {state['version']})")
    for lang in ("en", "fr", "ar"):
        console.print(f"  {state['title'][lang]}")
    console.print(f"  signed {state['signed_on']} in {state['place']}; term {state['term']['starts_on']} .. {state['term']['ends_on']}")
    console.print("  parties: " + ", ".join(f"{p['short_name']} ({p['role']})" for p in state["parties"]))
    if state["beneficiaries"]:
        console.print("  beneficiaries: " + "; ".join(state["beneficiaries"]))
    for currency, amounts in state["funding"].items():
        console.print(f"  funding: {amounts['allocated']} {currency} allocated, {amounts['disbursed']} disbursed")
    table = Table(title="Milestones")
    for column in ("id", "title", "due", "responsible", "status", "%", "completed on"):
        table.add_column(column)
    for m in state["milestones"]:
        table.add_row(m["milestone_id"], m["title"], m["due_on"], m["responsible"], m["status"], str(m["percent"]),
                      m["completed_on"] or "")
    console.print(table)
