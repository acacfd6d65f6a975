"""Helpers for the projections tests: a bulk event history written fast, and a dump of every view's rows."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from app.service import CommitmentService
from app.settings import Settings
from domain.agreement import Agreement
from domain.values import Recorded
from projections import tables as t

PROJECT = Path(__file__).resolve().parents[1]
CLI = [str(Path(sys.executable).parent / "commitments")]

VIEW_TABLES = [table for table in t.metadata.sorted_tables if table is not t.tracking]


def service_for(url: str, **settings: Any) -> CommitmentService:
    return CommitmentService(Settings(database_url=url, **settings))


def cli(url: str, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, "--db", url, *args], capture_output=True, text=True, timeout=timeout, cwd=PROJECT,
                          env={**os.environ, **(env or {})}, check=False)


def popen(url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*CLI, "--db", url, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=PROJECT, env={**os.environ, **(env or {})})


def dump_views(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every view, ordered by primary key, values as text (so both databases compare alike)."""
    dump: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for table in VIEW_TABLES:
            rows = conn.execute(select(table).order_by(*table.primary_key.columns)).all()
            dump[table.name] = [tuple(_text(v) for v in row) for row in rows]
    return dump


def _text(value: Any) -> Any:
    if isinstance(value, dict):
        return sorted((k, _text(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_text(v) for v in value]
    return value if value is None or isinstance(value, (str, int, bool)) else str(value)


def recorded(actor: str, on: date) -> Recorded:
    return Recorded(actor=actor, effective_on=on)


def bulk_history(service: CommitmentService, agreements: int, events_each: int, seed: int = 7) -> dict[str, Decimal]:
    """Agreements with about `events_each` events each (milestones, funding with cents, progress, back-dated
    completions, reschedules, cancellations, flags, reminders, contacts, closings), saved in a few transactions.
    Returns the exact allocated and disbursed totals."""
    rng = random.Random(seed)
    totals = {"allocated": Decimal(0), "disbursed": Decimal(0)}
    for n in range(agreements):
        day = date(2025, 1, 1) + timedelta(days=n)
        a = Agreement.sign(ref=f"bulk-{seed}-{n}", kind="convention", title={"ar": "ا", "fr": "f", "en": "e"},
                           parties=[{"short_name": "MIC", "role": "lead", "name": {"ar": "و", "fr": "M", "en": "M"}},
                                    {"short_name": f"P{n % 7}", "role": "signatory",
                                     "name": {"ar": "ش", "fr": "P", "en": "P"}}],
                           signed_on=day, place="Rabat", occasion="bulk", starts_on=day,
                           ends_on=day + timedelta(days=900), parent_ref=None, recorded=recorded("seed", day))
        a.add_contact(party="MIC", channel="log", address="mic", recorded=recorded("seed", day))
        milestone = 0
        while a.version < events_each:
            on = day + timedelta(days=a.version)
            r = recorded(f"actor-{rng.randrange(3)}", on)
            choice = rng.randrange(10)
            if choice < 2 or not a.milestones:
                milestone += 1
                a.plan_milestone(milestone_id=f"m{milestone}", title=f"Milestone {milestone}",
                                 due_on=on + timedelta(days=rng.randrange(-60, 200)), responsible=rng.choice(["MIC", f"P{n % 7}"]),
                                 kind="delivery", recorded=r)
            elif choice < 4:
                amount = Decimal(rng.randrange(1, 10**9)) / 100
                a.allocate_funding(amount=amount, currency="MAD", fund=f"fund-{rng.randrange(3)}",
                                   fiscal_years=[2025 + rng.randrange(3)], purpose="p", recorded=r)
                totals["allocated"] += amount
            elif choice == 4 and a.allocated("MAD") > a.disbursed.get("MAD", Decimal(0)):
                room = a.allocated("MAD") - a.disbursed.get("MAD", Decimal(0))
                amount = max((room * Decimal(rng.randrange(1, 60)) / 100).quantize(Decimal("0.01")), Decimal("0.01"))
                a.disburse(amount=amount, currency="MAD", value_date=on, tranche=f"t{a.version}", recorded=r)
                totals["disbursed"] += amount
            else:
                open_ones = [m for m in a.milestones.values() if m.is_open]
                if not open_ones:
                    continue
                m = rng.choice(open_ones)
                if choice == 5:
                    a.complete_milestone(milestone_id=m.milestone_id, completed_on=on - timedelta(days=rng.randrange(30)),
                                         evidence="e", recorded=r)
                elif choice == 6:
                    a.reschedule_milestone(milestone_id=m.milestone_id, due_on=m.due_on + timedelta(days=30),
                                           reason="late", recorded=r)
                elif choice == 7 and m.due_on < on and not a.is_flagged(m.milestone_id, m.due_on):
                    a.flag_overdue(milestone_id=m.milestone_id, as_of=on, recorded=r)
                    a.record_reminder(milestone_id=m.milestone_id, due_on=m.due_on, rung="+1", channel="log",
                                      recipient="mic", outcome="sent", attempts=1, detail="", recorded=r)
                elif choice == 8:
                    a.cancel_milestone(milestone_id=m.milestone_id, reason="dropped", recorded=r)
                else:
                    a.report_progress(milestone_id=m.milestone_id, percent=min(m.percent + 10, 100), note="n",
                                      reason=None, recorded=r)
        if n % 5 == 4:
            a.terminate(on=day + timedelta(days=events_each + 1), reason="ended", recorded=recorded("seed", day))
        service.ledger.save(a)
    return totals
