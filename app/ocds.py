"""One agreement as an OCDS-style record: a release per recorded fact, and a compiled release of the current state.

Field names follow the Open Contracting Data Standard 1.1: the agreement is a contract
(`period`, `dateSigned`, `value`, `milestones`, `amendments`, `implementation.transactions`)
and the signatories are `parties` with `roles`. What OCDS has no field for keeps our own name.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

OCID_PREFIX = "ocds-ctrk-"
PARTY_ROLES = {"lead": ["buyer"], "signatory": ["interestedParty"], "beneficiary": ["payee"]}
MILESTONE_TYPES = {"preProcurement", "approval", "engagement", "assessment", "delivery", "reporting", "financing"}
AMENDING_EVENTS = {"AgreementExtended", "MilestoneRescheduled", "FundingAllocationCorrected", "MilestoneCorrected"}


def ocds_record(events: Sequence[Any], state: dict[str, Any]) -> dict[str, Any]:
    """The record of one agreement, from its events (oldest first) and its current state."""
    ref = state["ref"]
    releases = [release for event in events if (release := _release(ref, event)) is not None]
    return {"ocid": OCID_PREFIX + ref, "releases": releases, "compiledRelease": _compiled(ref, releases, state)}


def _amount(value: object) -> int | float:
    """OCDS amounts are JSON numbers; a whole amount stays an integer, cents become a (two-decimal) number."""
    amount = Decimal(str(value))
    return int(amount) if amount == amount.to_integral_value() else float(amount)


def _when(day: Any) -> str | None:
    return None if day is None else f"{day}T00:00:00Z"


def _milestone_status(status: str, percent: int) -> str:
    if status == "completed":
        return "met"
    if status == "cancelled":
        return "notMet"
    return "partiallyMet" if percent > 0 else "scheduled"


def _parties(parties: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": p["short_name"], "name": p["name"]["en"], "roles": PARTY_ROLES.get(p["role"], ["interestedParty"]),
             "details": {"role": p["role"], "name": p["name"]}} for p in parties]


def _amendment(ref: str, event: Any, description: str) -> dict[str, Any]:
    return {"id": f"{ref}-v{event.originator_version}", "date": _when(event.effective_on),
            "rationale": getattr(event, "reason", None), "description": description}


def _release(ref: str, event: Any) -> dict[str, Any] | None:
    kind = type(event).__name__
    contract: dict[str, Any] = {"id": ref}
    release: dict[str, Any] = {
        "ocid": OCID_PREFIX + ref, "id": f"{ref}-v{event.originator_version}", "date": event.timestamp.isoformat(),
        "tag": ["contractAmendment"] if kind in AMENDING_EVENTS else ["contractUpdate"],
        "initiationType": "tender", "contracts": [contract],
    }
    if kind == "AgreementSigned":
        release["tag"] = ["contract"]
        release["parties"] = _parties(event.parties)
        contract.update(title=event.title["en"], status="active", dateSigned=_when(event.signed_on),
                        period={"startDate": _when(event.starts_on), "endDate": _when(event.ends_on)})
    elif kind == "AgreementExtended":
        contract.update(period={"endDate": _when(event.ends_on)}, amendments=[_amendment(
            ref, event, f"term end moved from {event.previous_ends_on} to {event.ends_on} ({event.instrument})")])
    elif kind in ("AgreementTerminated", "AgreementCompleted"):
        contract.update(status="terminated", period={"endDate": _when(event.on)})
    elif kind == "FundingDisbursed":
        contract["implementation"] = {"transactions": [{
            "id": f"{ref}-v{event.originator_version}", "date": _when(event.value_date),
            "value": {"amount": _amount(event.amount), "currency": event.currency}, "description": event.tranche}]}
    elif kind == "MilestonePlanned":
        contract["milestones"] = [{"id": event.milestone_id, "title": event.title, "dueDate": _when(event.due_on),
                                   "status": "scheduled", "type": _milestone_type(event.kind)}]
    elif kind == "MilestoneProgressReported":
        contract["milestones"] = [{"id": event.milestone_id, "status": _milestone_status("in_progress", event.percent),
                                   "description": f"{event.percent}% done: {event.note}",
                                   "dateModified": _when(event.effective_on)}]
    elif kind == "MilestoneCompleted":
        contract["milestones"] = [{"id": event.milestone_id, "status": "met", "dateMet": _when(event.completed_on),
                                   "dateModified": _when(event.effective_on)}]
    elif kind == "MilestoneRescheduled":
        contract["milestones"] = [{"id": event.milestone_id, "dueDate": _when(event.due_on)}]
        contract["amendments"] = [_amendment(
            ref, event, f"milestone {event.milestone_id} due date moved from {event.previous_due_on} to {event.due_on}")]
    elif kind == "MilestoneCancelled":
        contract["milestones"] = [{"id": event.milestone_id, "status": "notMet", "description": event.reason}]
    elif kind == "MilestoneCorrected":
        contract["milestones"] = [{"id": event.milestone_id, "title": event.title}]
        contract["amendments"] = [_amendment(ref, event, f"milestone {event.milestone_id} corrected")]
    elif kind == "FundingAllocationCorrected":
        contract["amendments"] = [_amendment(
            ref, event, f"allocation of version {event.corrects_version} corrected to {event.amount}")]
    elif kind == "FundingAllocated":
        contract["value"] = {"amount": _amount(event.amount), "currency": event.currency}
        release["planning"] = {"budget": {"amount": {"amount": _amount(event.amount), "currency": event.currency},
                                          "description": event.purpose, "project": event.fund}}
    else:
        # Contacts, overdue flags and reminders are the tracker's own bookkeeping, not contracting data.
        return None
    return release


def _milestone_type(kind: str) -> str:
    return kind if kind in MILESTONE_TYPES else "delivery"


def _compiled(ref: str, releases: Sequence[dict[str, Any]], state: dict[str, Any]) -> dict[str, Any]:
    funding = state["funding"]
    changes = [r["contracts"][0] for r in releases]
    contract: dict[str, Any] = {
        "id": ref, "title": state["title"]["en"], "description": state["title"]["fr"],
        "status": "active" if state["status"] == "active" else "terminated",
        "dateSigned": _when(state["signed_on"]),
        "period": {"startDate": _when(state["term"]["starts_on"]), "endDate": _when(state["term"]["ends_on"])},
        "milestones": [{"id": m["milestone_id"], "title": m["title"], "type": _milestone_type(m["kind"]),
                        "dueDate": _when(m["due_on"]), "dateMet": _when(m["completed_on"]),
                        "status": _milestone_status(m["status"], m["percent"])} for m in state["milestones"]],
        "amendments": [a for c in changes for a in c.get("amendments", [])],
        "implementation": {"transactions": [t for c in changes for t in c.get("implementation", {}).get("transactions", [])]},
    }
    if len(funding) == 1:
        currency, amounts = next(iter(funding.items()))
        contract["value"] = {"amount": _amount(amounts["allocated"]), "currency": currency}
    return {
        "ocid": OCID_PREFIX + ref, "id": f"{ref}-v{state['version']}",
        "date": releases[-1]["date"] if releases else None, "tag": ["compiled"],
        "initiationType": "tender", "parties": _parties(state["parties"]), "contracts": [contract],
        "funding": {cur: {"allocated": a["allocated"], "disbursed": a["disbursed"]} for cur, a in funding.items()},
    }

