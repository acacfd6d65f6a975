"""Exports through the service, on both databases: the event log, milestones as CSV, and OCDS-style records."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest

from app.exports import MILESTONE_COLUMNS, export_csv, export_jsonl, export_ocds
from app.service import CommitmentService
from tests.audit_support import demo_service

RAIL = "rail-test-platform"


@pytest.fixture
def service(database_url: str) -> Iterator[CommitmentService]:
    with demo_service(database_url) as service:
        yield service


def test_the_jsonl_log_holds_every_event_in_log_order_with_its_hashes(service: CommitmentService) -> None:
    out = io.StringIO()
    assert export_jsonl(service, out) == 32
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert [x["position"] for x in lines] == sorted(x["position"] for x in lines)
    rail = [x for x in lines if x["originator_id"] == service.agreement(RAIL).id.hex]
    history = list(service.history(RAIL))
    assert [(x["originator_version"], x["hash"], x["prev_hash"]) for x in rail] == [
        (e["version"], e["hash"], e["prev_hash"]) for e in history]
    assert rail[0]["topic"] == "domain.agreement:Agreement.AgreementSigned"
    assert json.loads(rail[0]["state"])["ref"] == RAIL


def test_milestones_csv(service: CommitmentService) -> None:
    out = io.StringIO()
    count = export_csv(service, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == count
    assert tuple(rows[0]) == MILESTONE_COLUMNS
    rail = [r for r in rows if r["agreement_ref"] == RAIL]
    assert [(r["milestone_id"], r["due_on"], r["status"], r["percent"], r["completed_on"]) for r in rail] == [
        ("feasibility-study", "2026-06-30", "in_progress", "40", ""),
        ("site-designation", "2026-09-30", "planned", "0", ""),
        ("test-bench-commissioning", "2028-06-30", "planned", "0", ""),
    ]


def test_ocds_records_use_ocds_names(service: CommitmentService) -> None:
    out = io.StringIO()
    assert export_ocds(service, out) == 5
    package = json.loads(out.getvalue())
    assert package["version"] == "1.1"
    records = {r["ocid"]: r for r in package["records"]}
    assert set(records) == {f"ocds-ctrk-{ref}" for ref in service.refs()}
    rail = records[f"ocds-ctrk-{RAIL}"]
    assert [r["id"] for r in rail["releases"]] == [f"{RAIL}-v{v}" for v in range(1, 6)]
    assert rail["releases"][0]["tag"] == ["contract"]
    compiled = rail["compiledRelease"]
    assert compiled["tag"] == ["compiled"]
    contract = compiled["contracts"][0]
    assert contract["status"] == "active"
    assert [(m["id"], m["dueDate"], m["dateMet"], m["status"]) for m in contract["milestones"]] == [
        ("feasibility-study", "2026-06-30T00:00:00Z", None, "partiallyMet"),
        ("site-designation", "2026-09-30T00:00:00Z", None, "scheduled"),
        ("test-bench-commissioning", "2028-06-30T00:00:00Z", None, "scheduled"),
    ]
    assert all(set(m) >= {"id", "title", "dueDate", "dateMet", "status"} for m in contract["milestones"])
    lead = [p for p in compiled["parties"] if "buyer" in p["roles"]]
    assert [p["details"]["role"] for p in lead] == ["lead"]


def test_ocds_amendments_and_transactions(service: CommitmentService) -> None:
    out = io.StringIO()
    export_ocds(service, out)
    records = {r["ocid"]: r for r in json.loads(out.getvalue())["records"]}
    support = records["ocds-ctrk-industrial-innovation-support"]["compiledRelease"]["contracts"][0]
    assert [a["description"] for a in support["amendments"]] == [
        "term end moved from 2025-12-31 to 2028-12-31 (" + _instrument(service) + ")"]
    assert [t["value"] for t in support["implementation"]["transactions"]] == [
        {"amount": 150000000, "currency": "MAD"}]
    assert support["value"] == {"amount": 900000000, "currency": "MAD"}


def _instrument(service: CommitmentService) -> str:
    return str(next(e["data"]["instrument"] for e in service.history("industrial-innovation-support")
                    if e["type"] == "AgreementExtended"))
