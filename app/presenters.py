"""Plain-JSON shapes of agreements and events, shared by the CLI, the HTTP API and the exports."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from domain.agreement import Agreement
from domain.chain import plain

METADATA_FIELDS = frozenset({
    "originator_id", "originator_version", "originator_topic", "timestamp",
    "actor", "effective_on", "source", "command_id", "prev_hash", "hash",
})


def history_entry(event: Any) -> dict[str, Any]:
    """One event as the auditor reads it: metadata beside the facts, with its link in the chain."""
    fields = vars(event)
    return {
        "version": event.originator_version,
        "type": type(event).__name__,
        "recorded_at": event.timestamp.isoformat(),
        "effective_on": event.effective_on.isoformat(),
        "actor": event.actor,
        "source": event.source,
        "command_id": event.command_id,
        "data": plain({k: v for k, v in fields.items() if k not in METADATA_FIELDS}),
        "hash": event.hash,
        "prev_hash": event.prev_hash,
    }


def agreement_summary(agreement: Agreement, today: date) -> dict[str, Any]:
    """One row of the agreements list: term, funding, open and overdue milestones, the next one due."""
    currencies = sorted({a.currency for a in agreement.allocations} | set(agreement.disbursed))
    open_milestones = sorted((m for m in agreement.milestones.values() if m.is_open),
                             key=lambda m: (m.due_on, m.milestone_id))
    upcoming = [m for m in open_milestones if m.due_on >= today]
    summary = {
        "ref": agreement.ref,
        "kind": agreement.kind,
        "status": agreement.status,
        "title": agreement.title,
        "signed_on": agreement.signed_on,
        "ends_on": agreement.ends_on,
        "allocated": {cur: agreement.allocated(cur) for cur in currencies},
        "disbursed": {cur: agreement.disbursed.get(cur, Decimal(0)) for cur in currencies},
        "milestones_open": len(open_milestones),
        "overdue_count": (sum(1 for m in open_milestones if m.due_on < today)
                          if agreement.status == "active" else 0),
        "next_due": ({"milestone_id": upcoming[0].milestone_id, "due_on": upcoming[0].due_on}
                     if upcoming else None),
        "version": agreement.version,
    }
    return plain(summary)  # type: ignore[return-value]


def agreement_state(agreement: Agreement) -> dict[str, Any]:
    """The current state of one agreement."""
    currencies = sorted({a.currency for a in agreement.allocations} | set(agreement.disbursed))
    state = {
        "ref": agreement.ref,
        "kind": agreement.kind,
        "title": agreement.title,
        "parties": agreement.parties,
        "signed_on": agreement.signed_on,
        "place": agreement.place,
        "occasion": agreement.occasion,
        "parent_ref": agreement.parent_ref,
        "term": {"starts_on": agreement.starts_on, "ends_on": agreement.ends_on},
        "status": agreement.status,
        "beneficiaries": agreement.beneficiaries,
        "funding": {
            cur: {"allocated": agreement.allocated(cur), "disbursed": agreement.disbursed.get(cur, Decimal(0))}
            for cur in currencies
        },
        "allocations": [
            {"version": a.version, "amount": a.amount, "currency": a.currency, "fund": a.fund,
             "fiscal_years": a.fiscal_years, "purpose": a.purpose}
            for a in agreement.allocations
        ],
        "milestones": [
            {"milestone_id": m.milestone_id, "title": m.title, "due_on": m.due_on,
             "original_due_on": m.original_due_on, "responsible": m.responsible, "kind": m.kind,
             "status": m.status, "percent": m.percent, "completed_on": m.completed_on}
            for m in sorted(agreement.milestones.values(), key=lambda m: (m.due_on, m.milestone_id))
        ],
        "contacts": [{"party": ct.party, "channel": ct.channel, "address": ct.address} for ct in agreement.contacts],
        "version": agreement.version,
    }
    return plain(state)  # type: ignore[return-value]
