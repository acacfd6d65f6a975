"""CLI write commands: sign, extend, fund, disburse, beneficiaries, milestones, close, contacts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from app import commands as c
from app.cli.runtime import build, default_actor, fail, report_write, runtime

Actor = Annotated[str, typer.Option("--actor", help="Who records this fact.", envvar="COMMITMENTS_ACTOR")]
EffectiveOn = Annotated[str | None, typer.Option("--effective-on", help="When it happened in the world (YYYY-MM-DD; default today).")]
Source = Annotated[str | None, typer.Option("--source", help="Evidence: a document reference or URL.")]
CommandId = Annotated[str | None, typer.Option("--command-id", help="Idempotency key: repeating the command writes nothing.")]
ExpectedVersion = Annotated[int | None, typer.Option(
    "--expected-version", min=1,
    help="Refuse the write (nothing is stored) unless the agreement is still at this version, as `show` printed it.")]
Json = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
DEFAULT_ACTOR = default_actor()

milestone_app = typer.Typer(help="Plan milestones and record what happens to them.", no_args_is_help=True)
contact_app = typer.Typer(help="Contacts that receive reminders for a party.", no_args_is_help=True)


def _meta(effective_on: str | None, source: str | None, command_id: str | None,
          expected_version: int | None = None) -> dict[str, Any]:
    return {"effective_on": effective_on, "source": source, "command_id": command_id,
            "expected_version": expected_version}


def register(app: typer.Typer) -> None:
    app.command("sign")(sign)
    app.command("extend")(extend)
    app.command("add-beneficiaries")(add_beneficiaries)
    app.command("fund")(fund)
    app.command("correct-funding")(correct_funding)
    app.command("disburse")(disburse)
    app.command("terminate")(terminate)
    app.command("complete")(complete)
    app.add_typer(milestone_app, name="milestone")
    app.add_typer(contact_app, name="contact")


def sign(ctx: typer.Context,
         file: Annotated[Path, typer.Argument(help="JSON file with the agreement: ref, kind, title, parties, dates.")],
         actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
         command_id: CommandId = None, as_json: Json = False) -> None:
    """Sign (register) a new agreement from a JSON file."""
    try:
        body = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as e:
        fail(f"cannot read {file}: {e}")
    except json.JSONDecodeError as e:
        fail(f"{file} is not valid JSON: {e}")
    if not isinstance(body, dict):
        fail(f"{file} must hold one JSON object")
    command = build(c.SignAgreement, {**body, **{k: v for k, v in _meta(effective_on, source, command_id).items() if v}})
    report_write(runtime(ctx).service().sign(command, actor=actor), as_json, "signed")


def extend(ctx: typer.Context, ref: str,
           until: Annotated[str, typer.Option("--until", help="New end of the term (YYYY-MM-DD).")],
           instrument: Annotated[str, typer.Option(help="The instrument that extends it, e.g. the annex.")],
           reason: Annotated[str, typer.Option(help="Why.")],
           actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
           command_id: CommandId = None, expected_version: ExpectedVersion = None,
           as_json: Json = False) -> None:
    """Extend an agreement's term."""
    command = build(c.ExtendAgreement, {"ends_on": until, "instrument": instrument, "reason": reason,
                                        **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().extend(ref, command, actor=actor), as_json, "extended")


def add_beneficiaries(ctx: typer.Context, ref: str,
                      beneficiary: Annotated[list[str], typer.Option("--beneficiary", help="Repeat for each.")],
                      fund: Annotated[str, typer.Option(help="The fund they benefit from.")],
                      actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
                      command_id: CommandId = None, expected_version: ExpectedVersion = None,
                      as_json: Json = False) -> None:
    """Add beneficiaries to an agreement's fund."""
    command = build(c.AddBeneficiaries, {"beneficiaries": beneficiary, "fund": fund,
                                         **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().add_beneficiaries(ref, command, actor=actor), as_json, "beneficiaries added to")


def fund(ctx: typer.Context, ref: str,
         amount: Annotated[str, typer.Option(help="Amount, a decimal number (never a float).")],
         fund_name: Annotated[str, typer.Option("--fund", help="Fund or budget line.")],
         purpose: Annotated[str, typer.Option(help="What the money is for.")],
         currency: Annotated[str, typer.Option(help="Three-letter currency code.")] = "MAD",
         fiscal_year: Annotated[list[str] | None, typer.Option("--fiscal-year", help="Repeat for each year.")] = None,
         actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
         command_id: CommandId = None, expected_version: ExpectedVersion = None,
         as_json: Json = False) -> None:
    """Allocate funding to an agreement."""
    command = build(c.AllocateFunding, {"amount": amount, "currency": currency, "fund": fund_name,
                                        "fiscal_years": fiscal_year, "purpose": purpose,
                                        **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().allocate_funding(ref, command, actor=actor), as_json, "funded")


def correct_funding(ctx: typer.Context, ref: str,
                    version: Annotated[str, typer.Option("--version", help="Version of the allocation to correct.")],
                    amount: Annotated[str, typer.Option(help="The right amount.")],
                    reason: Annotated[str, typer.Option(help="Why the recorded amount was wrong.")],
                    actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
                    command_id: CommandId = None, expected_version: ExpectedVersion = None,
                    as_json: Json = False) -> None:
    """Correct the amount of an allocation (a new event; the old one stays in history)."""
    command = build(c.CorrectAllocation, {"corrects_version": version, "amount": amount, "reason": reason,
                                          **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().correct_allocation(ref, command, actor=actor), as_json, "corrected")


def disburse(ctx: typer.Context, ref: str,
             amount: Annotated[str, typer.Option(help="Amount disbursed.")],
             value_date: Annotated[str, typer.Option("--value-date", help="Value date (YYYY-MM-DD).")],
             tranche: Annotated[str, typer.Option(help="Tranche label.")],
             currency: Annotated[str, typer.Option(help="Three-letter currency code.")] = "MAD",
             actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
             command_id: CommandId = None, expected_version: ExpectedVersion = None,
             as_json: Json = False) -> None:
    """Record a disbursement (never more than was allocated)."""
    command = build(c.DisburseFunding, {"amount": amount, "currency": currency, "value_date": value_date,
                                        "tranche": tranche, **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().disburse(ref, command, actor=actor), as_json, "disbursed")


def terminate(ctx: typer.Context, ref: str,
              on: Annotated[str, typer.Option(help="Date of termination.")],
              reason: Annotated[str, typer.Option(help="Why.")],
              actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
              command_id: CommandId = None, expected_version: ExpectedVersion = None,
              as_json: Json = False) -> None:
    """Terminate an agreement before its term."""
    command = build(c.CloseAgreement, {"on": on, "reason": reason, **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().terminate(ref, command, actor=actor), as_json, "terminated")


def complete(ctx: typer.Context, ref: str,
             on: Annotated[str, typer.Option(help="Date of completion.")],
             reason: Annotated[str, typer.Option(help="What was achieved.")],
             actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
             command_id: CommandId = None, expected_version: ExpectedVersion = None,
             as_json: Json = False) -> None:
    """Record that an agreement is completed."""
    command = build(c.CloseAgreement, {"on": on, "reason": reason, **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().complete(ref, command, actor=actor), as_json, "completed")


@milestone_app.command("plan")
def milestone_plan(ctx: typer.Context, ref: str, milestone_id: str,
                   title: Annotated[str, typer.Option(help="What is committed.")],
                   due: Annotated[str, typer.Option(help="Due date (YYYY-MM-DD).")],
                   responsible: Annotated[str, typer.Option(help="Short name of the responsible party.")],
                   kind: Annotated[str, typer.Option(help="delivery, financing, reporting, governance, study, regulatory")] = "delivery",
                   actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
                   command_id: CommandId = None, expected_version: ExpectedVersion = None,
                   as_json: Json = False) -> None:
    """Plan a milestone."""
    command = build(c.PlanMilestone, {"milestone_id": milestone_id, "title": title, "due_on": due,
                                      "responsible": responsible, "kind": kind,
                                      **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().plan_milestone(ref, command, actor=actor), as_json, "planned on")


@milestone_app.command("progress")
def milestone_progress(ctx: typer.Context, ref: str, milestone_id: str,
                       percent: Annotated[str, typer.Option(help="Percent done, 0-100.")],
                       note: Annotated[str, typer.Option(help="What was done.")],
                       reason: Annotated[str | None, typer.Option(help="Required if progress goes down.")] = None,
                       actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
                       command_id: CommandId = None, expected_version: ExpectedVersion = None,
                       as_json: Json = False) -> None:
    """Report progress on a milestone."""
    command = build(c.ReportProgress, {"percent": percent, "note": note, "reason": reason,
                                       **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().report_progress(ref, milestone_id, command, actor=actor), as_json,
                 "progress recorded on")


@milestone_app.command("complete")
def milestone_complete(ctx: typer.Context, ref: str, milestone_id: str,
                       evidence: Annotated[str, typer.Option(help="Evidence of completion.")],
                       on: Annotated[str | None, typer.Option(help="Completion date (default: the effective date).")] = None,
                       actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
                       command_id: CommandId = None, expected_version: ExpectedVersion = None,
                       as_json: Json = False) -> None:
    """Complete a milestone, possibly back-dated."""
    service = runtime(ctx).service()
    today = service.today().isoformat()
    # With neither date given it was completed today, in the configured time zone. A back-dated completion is
    # effective on its date; a date in the future stays effective today, so the aggregate refuses it.
    completed_on = on or effective_on or today
    command = build(c.CompleteMilestone, {"completed_on": completed_on, "evidence": evidence,
                                          **_meta(effective_on or (min(on, today) if on else None), source, command_id, expected_version)})
    report_write(service.complete_milestone(ref, milestone_id, command, actor=actor), as_json, "milestone completed on")


@milestone_app.command("reschedule")
def milestone_reschedule(ctx: typer.Context, ref: str, milestone_id: str,
                         due: Annotated[str, typer.Option(help="New due date (YYYY-MM-DD).")],
                         reason: Annotated[str, typer.Option(help="Why.")],
                         actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
                         command_id: CommandId = None, expected_version: ExpectedVersion = None,
                         as_json: Json = False) -> None:
    """Move a milestone's due date; the old date stays in history."""
    command = build(c.RescheduleMilestone, {"due_on": due, "reason": reason, **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().reschedule_milestone(ref, milestone_id, command, actor=actor), as_json,
                 "rescheduled on")


@milestone_app.command("cancel")
def milestone_cancel(ctx: typer.Context, ref: str, milestone_id: str,
                     reason: Annotated[str, typer.Option(help="Why.")],
                     actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
                     command_id: CommandId = None, expected_version: ExpectedVersion = None,
                     as_json: Json = False) -> None:
    """Cancel a milestone."""
    command = build(c.CancelMilestone, {"reason": reason, **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().cancel_milestone(ref, milestone_id, command, actor=actor), as_json,
                 "cancelled on")


@contact_app.command("add")
def contact_add(ctx: typer.Context, ref: str, party: str,
                channel: Annotated[str, typer.Option(help="email, webhook or log")],
                address: Annotated[str, typer.Option(help="Email address, webhook URL, or a name for the log.")],
                actor: Actor = DEFAULT_ACTOR, effective_on: EffectiveOn = None, source: Source = None,
                command_id: CommandId = None, expected_version: ExpectedVersion = None,
                as_json: Json = False) -> None:
    """Record where a party's reminders go."""
    command = build(c.AddContact, {"party": party, "channel": channel, "address": address,
                                   **_meta(effective_on, source, command_id, expected_version)})
    report_write(runtime(ctx).service().add_contact(ref, command, actor=actor), as_json, "contact added to")
