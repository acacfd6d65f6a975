"""What changed in one agreement between two versions, said in words an auditor reads."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app.errors import ApplicationError
from app.presenters import agreement_state, history_entry
from domain.agreement import Agreement

MILESTONE_FIELDS = {"title": "title", "due_on": "due date", "responsible": "responsible party", "kind": "kind",
                    "status": "status", "completed_on": "completion date"}


class UnknownVersion(ApplicationError):
    """The agreement has no such version (bad input: exit 2, HTTP 404)."""


def diff_versions(service: Any, ref: str, v1: int, v2: int) -> dict[str, Any]:
    """The states at v1 and v2 compared, and the events recorded in between."""
    current: Agreement = service.agreement(ref)
    for v in (v1, v2):
        if not 1 <= v <= current.version:
            msg = f"{ref} has versions 1 to {current.version}; there is no version {v}"
            raise UnknownVersion(msg)
    low, high = sorted((v1, v2))
    states: dict[int, dict[str, Any]] = {}
    between: list[dict[str, Any]] = []
    agreement: Agreement | None = None
    for event in service.ledger.events.get(current.id, lte=high):
        agreement = event.mutate(agreement)
        assert agreement is not None
        if event.originator_version > low:
            between.append({k: v for k, v in history_entry(event).items() if k not in ("data", "prev_hash")})
        if event.originator_version in (v1, v2):
            states[event.originator_version] = agreement_state(agreement)
    return {"ref": ref, "from_version": v1, "to_version": v2,
            "changes": list(state_changes(states[v1], states[v2])), "events": between}


def state_changes(before: dict[str, Any], after: dict[str, Any]) -> Iterator[str]:
    """Each difference between two agreement states, as one sentence."""
    yield from _moved("status", before["status"], after["status"])
    for end, word in (("starts_on", "term start"), ("ends_on", "term end")):
        yield from _moved(word, before["term"][end], after["term"][end])
    for lang in sorted(set(before["title"]) | set(after["title"])):
        yield from _moved(f"title ({lang})", before["title"].get(lang), after["title"].get(lang))
    yield from _added_removed("party", [p["short_name"] for p in before["parties"]],
                              [p["short_name"] for p in after["parties"]])
    yield from _added_removed("beneficiary", before["beneficiaries"], after["beneficiaries"])
    for currency in sorted(set(before["funding"]) | set(after["funding"])):
        old, new = before["funding"].get(currency, {}), after["funding"].get(currency, {})
        for what in ("allocated", "disbursed"):
            yield from _moved(f"funding {what} ({currency})", old.get(what, "0"), new.get(what, "0"))
    yield from _milestone_changes(before["milestones"], after["milestones"])
    yield from _added_removed("contact", [_contact(c) for c in before["contacts"]],
                              [_contact(c) for c in after["contacts"]])


def _milestone_changes(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> Iterator[str]:
    old = {m["milestone_id"]: m for m in before}
    new = {m["milestone_id"]: m for m in after}
    for mid in [m["milestone_id"] for m in after] + [m for m in old if m not in new]:
        if mid not in old:
            m = new[mid]
            now = "" if m["status"] == "planned" else f"; now {m['status']} ({m['percent']}%)"
            yield f"milestone {mid} planned: {m['title']!r}, due {m['due_on']}, responsible {m['responsible']}{now}"
            continue
        if mid not in new:
            yield f"milestone {mid} no longer planned"
            continue
        for key, word in MILESTONE_FIELDS.items():
            yield from _moved(f"milestone {mid} {word}", old[mid][key], new[mid][key])
        if old[mid]["percent"] != new[mid]["percent"]:
            yield f"milestone {mid} progress {old[mid]['percent']}% -> {new[mid]['percent']}%"


def _moved(what: str, old: Any, new: Any) -> Iterator[str]:
    if old == new:
        return
    if old is None:
        yield f"{what} set to {new}"
    elif new is None:
        yield f"{what} cleared (was {old})"
    elif "term" in what or "date" in what:
        yield f"{what} moved from {old} to {new}"
    else:
        yield f"{what} changed from {old} to {new}"


def _added_removed(what: str, old: list[str], new: list[str]) -> Iterator[str]:
    added = [x for x in new if x not in old]
    removed = [x for x in old if x not in new]
    if added:
        yield f"{what} added: {', '.join(added)}"
    if removed:
        yield f"{what} removed: {', '.join(removed)}"


def _contact(contact: dict[str, Any]) -> str:
    return f"{contact['party']} {contact['channel']} {contact['address']}"
