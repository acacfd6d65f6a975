"""The API's contract besides authorization: idempotency, read-after-write, paging, errors, limits, health."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api_world import World, world
from tests.conftest import drop_postgres_database

RAIL = "rail-test-platform"
PROGRESS = f"/api/agreements/{RAIL}/milestones/feasibility-study/progress"


@pytest.fixture
def api(database_url: str) -> Iterator[tuple[World, TestClient]]:
    with world(database_url) as w, TestClient(w.app) as client:
        yield w, client


def test_a_retry_with_the_same_idempotency_key_returns_the_first_response_and_writes_nothing(
        api: tuple[World, TestClient]) -> None:
    w, client = api
    headers = {**w.auth("oncf"), "Idempotency-Key": "report-2026-11-29"}
    first = client.post(PROGRESS, json={"percent": 55, "note": "first try"}, headers=headers)
    assert first.status_code == 201
    events = len(list(w.backend.service.history(RAIL)))
    retry = client.post(PROGRESS, json={"percent": 55, "note": "first try"}, headers=headers)
    assert (retry.status_code, retry.json()) == (201, first.json())
    assert len(list(w.backend.service.history(RAIL))) == events
    # Another user's identical key is their own: it writes.
    other = client.post(PROGRESS, json={"percent": 56, "note": "admin"},
                        headers={**w.auth("admin"), "Idempotency-Key": "report-2026-11-29"})
    assert other.status_code == 201
    assert other.json() == {"ref": RAIL, "version": first.json()["version"] + 1, "position": first.json()["position"] + 1}


def test_a_read_after_a_write_sees_it(api: tuple[World, TestClient]) -> None:
    w, client = api
    written = client.post(f"/api/agreements/{RAIL}/milestones/site-designation/completion",
                          json={"completed_on": "2026-11-20", "evidence": "decree 2-26-123", "effective_on": "2026-11-20"},
                          headers=w.auth("admin")).json()
    state = client.get(f"/api/agreements/{RAIL}", headers=w.auth("auditor")).json()
    assert state["version"] == written["version"]
    site = next(m for m in state["milestones"] if m["milestone_id"] == "site-designation")
    assert (site["status"], site["completed_on"]) == ("completed", "2026-11-20")
    overdue = client.get("/api/overdue?as_of=2026-11-29", headers=w.auth("auditor")).json()
    assert [(o["agreement_ref"], o["milestone_id"]) for o in overdue["items"]] == [
        (RAIL, "feasibility-study"), ("made-in-morocco", "consumer-campaign")]
    history = client.get(f"/api/agreements/{RAIL}/history?offset=0&limit=100", headers=w.auth("auditor")).json()
    last = history["items"][-1]
    assert (last["type"], last["effective_on"], last["actor"], last["data"]["evidence"]) == (
        "MilestoneCompleted", "2026-11-20", "user:admin", "decree 2-26-123")


def test_lists_are_paged_and_the_page_size_is_capped(sqlite_url: str) -> None:
    with world(sqlite_url) as w, TestClient(w.app) as client:
        page = client.get("/api/agreements?offset=1&limit=2", headers=w.auth("auditor")).json()
        assert ([a["ref"] for a in page["items"]], page["total"], page["offset"], page["limit"]) == (
            ["industrial-innovation-support", "mta-contract-programme"], 5, 1, 2)
        too_big = client.get("/api/agreements?limit=101", headers=w.auth("auditor"))
        assert (too_big.status_code, too_big.json()) == (422, {"detail": "query.limit: Input should be less than or equal to 100"})
        history = client.get(f"/api/agreements/{RAIL}/history?limit=1&offset=1", headers=w.auth("auditor")).json()
        assert ([e["version"] for e in history["items"]], history["total"]) == ([2], 5)


@pytest.mark.parametrize(("method", "path", "body", "status", "detail"), [
    ("GET", "/api/agreements/no-such-agreement", None, 404, "no agreement with ref 'no-such-agreement'"),
    ("POST", f"/api/agreements/{RAIL}/milestones/no-such-milestone/progress", {"percent": 5, "note": "x"}, 404,
     "rail-test-platform has no milestone 'no-such-milestone'"),
    ("POST", f"/api/agreements/{RAIL}/milestones/feasibility-study/progress", {"percent": 5, "note": "x"}, 409,
     "progress on feasibility-study would fall from 40% to 5%; give a reason"),
    ("POST", f"/api/agreements/{RAIL}/milestones/feasibility-study/progress", {"percent": 101, "note": "x"}, 422,
     "body.percent: Input should be less than or equal to 100"),
    ("POST", "/api/agreements", None, 422, "body: Field required"),
    ("GET", f"/api/agreements/{RAIL}?as_of=2026-13-01", None, 422,
     "query.as_of: Input should be a valid date or datetime, month value is outside expected range of 1-12"),
    ("GET", "/api/agreements?lmit=5", None, 422, "unknown query parameter(s): lmit"),
    ("GET", "/api/overdue?as_of=0", None, 422, "query.as_of: Value error, a date is written YYYY-MM-DD"),
    ("POST", PROGRESS, {"percent": "50", "note": "x"}, 422, "body.percent: Input should be a valid integer"),
    ("POST", PROGRESS, {"percent": 50, "note": "x", "effective_on": 0}, 422, "body.effective_on: Input should be a valid date"),
    ("POST", f"/api/agreements/{RAIL}/funding", {"amount": 1000.5, "fund": "F", "purpose": "p"}, 422,
     'body.amount: Value error, an amount is a string such as "1500000.00": greater than zero, at most two decimals'),
    ("POST", f"/api/agreements/{RAIL}/milestones", {"milestone_id": "m1", "title": "t", "due_on": "2027-01-01",
                                                    "responsible": "NOBODY"}, 409,
     "NOBODY is not a party to rail-test-platform (parties: MIC, ONCF, MTI)"),
    ("GET", f"/api/agreements/{RAIL}?as_of=2020-01-01", None, 404, "agreement rail-test-platform was not yet recorded on 2020-01-01"),
])
def test_errors_are_one_line_json_with_the_right_status(sqlite_url: str, method: str, path: str,
                                                          body: object, status: int, detail: str | None) -> None:
    with world(sqlite_url) as w, TestClient(w.app) as client:
        response = client.request(method, path, json=body, headers=w.auth("admin"))
    assert response.status_code == status
    assert list(response.json()) == ["detail"]
    if detail is not None:
        assert response.json()["detail"] == detail


def test_a_body_over_the_cap_is_refused_with_413_and_not_read(sqlite_url: str) -> None:
    with world(sqlite_url, api_max_body_bytes=4096) as w, TestClient(w.app) as client:
        before = w.backend.service.max_position()
        response = client.post(PROGRESS, content=b'{"percent": 50, "note": "' + b"x" * 5000 + b'"}',
                               headers={**w.auth("admin"), "content-type": "application/json"})
        assert (response.status_code, response.json()) == (413, {"detail": "request body larger than 4096 bytes"})
        assert w.backend.service.max_position() == before


def test_time_travel_reads(sqlite_url: str) -> None:
    with world(sqlite_url) as w, TestClient(w.app) as client:
        client.post(f"/api/agreements/{RAIL}/milestones/site-designation/reschedule",
                    json={"due_on": "2027-03-31", "reason": "land survey", "effective_on": "2026-11-01"},
                    headers=w.auth("oncf"))
        now = client.get(f"/api/agreements/{RAIL}", headers=w.auth("auditor")).json()
        before = client.get(f"/api/agreements/{RAIL}?effective_on=2026-10-01", headers=w.auth("auditor")).json()
        today = w.backend.service.today().isoformat()
        known_today = client.get(f"/api/agreements/{RAIL}?as_of={today}&effective_on=2026-11-15",
                                 headers=w.auth("auditor")).json()
        known_before = client.get(f"/api/agreements/{RAIL}?as_of=2025-11-15&effective_on=2025-11-15",
                                  headers=w.auth("auditor"))
    due = {m["milestone_id"]: m["due_on"] for m in now["milestones"]}
    due_before = {m["milestone_id"]: m["due_on"] for m in before["milestones"]}
    due_known = {m["milestone_id"]: m["due_on"] for m in known_today["milestones"]}
    assert (due["site-designation"], due_before["site-designation"], due_known["site-designation"]) == (
        "2027-03-31", "2026-09-30", "2027-03-31")
    assert known_before.status_code == 404


def test_health_and_verification(api: tuple[World, TestClient]) -> None:
    w, client = api
    health = client.get("/healthz")
    assert health.status_code == 200
    body = health.json()
    assert (body["status"], body["database"], body["position"], body["scheduler"]) == (
        "ok", "ok", w.backend.service.max_position(), {"running": False, "last_sweep": None})
    verified = client.get("/api/audit/verify", headers=w.auth("auditor")).json()
    assert (verified["ok"], verified["agreements_checked"], verified["problems"]) == (True, 5, [])


def test_every_role_can_export_the_log_and_nobody_without_a_token(sqlite_url: str) -> None:
    with world(sqlite_url) as w, TestClient(w.app) as client:
        assert client.get("/api/exports/jsonl").status_code == 401
        log = client.get("/api/exports/jsonl", headers=w.auth("auditor"))
        milestones = client.get("/api/exports/csv", headers=w.auth("oncf"))
        unknown = client.get("/api/exports/xml", headers=w.auth("admin"))
        events = w.backend.service.max_position()
    assert (log.status_code, log.headers["content-type"]) == (200, "application/x-ndjson")
    lines = [json.loads(line) for line in log.text.splitlines()]
    assert [line["position"] for line in lines] == list(range(1, events + 1))
    assert (lines[0]["topic"], lines[0]["originator_version"]) == ("domain.agreement:Agreement.AgreementSigned", 1)
    assert (milestones.status_code, milestones.headers["content-type"]) == (200, "text/csv; charset=utf-8")
    assert milestones.text.splitlines()[0].startswith("agreement_ref,")
    assert unknown.status_code == 422


def test_verification_reports_a_rewritten_event(sqlite_url: str) -> None:
    with world(sqlite_url) as w, TestClient(w.app) as client:
        path = sqlite_url.removeprefix("sqlite:///")
        with sqlite3.connect(path) as db:
            state = db.execute("SELECT state FROM stored_events WHERE rowid = 1").fetchone()[0]
            assert b"Rabat" in state
            db.execute("UPDATE stored_events SET state = ? WHERE rowid = 1", (state.replace(b"Rabat", b"Rebat"),))
        verified = client.get("/api/audit/verify", headers=w.auth("auditor")).json()
        page = client.get("/api/agreements/made-in-morocco", headers=w.auth("auditor"))
    assert verified == {"ok": False, "agreements_checked": 5, "events_checked": 32, "problems": [{
        "agreement": "made-in-morocco", "agreement_id": "a7b5cc5a8b705286ae6a6b736cc347ae", "version": 1,
        "position": 1, "problem": "the event's content does not match its hash: it was edited"}]}
    assert page.status_code == 200  # reads still work; the audit is what tells


def test_signing_honours_the_idempotency_key_and_refuses_a_second_signature(sqlite_url: str) -> None:
    body = {"ref": "new-rail-annex", "kind": "annex", "title": {"ar": "ملحق", "fr": "Avenant", "en": "Annex"},
            "parties": [{"short_name": "ONCF", "role": "lead", "name": {"ar": "ONCF", "fr": "ONCF", "en": "ONCF"}}],
            "signed_on": "2026-11-01", "place": "Rabat", "occasion": "test", "starts_on": "2026-11-01",
            "ends_on": "2027-11-01", "parent_ref": RAIL}
    with world(sqlite_url) as w, TestClient(w.app) as client:
        headers = {**w.auth("oncf"), "Idempotency-Key": "sign-annex"}
        first = client.post("/api/agreements", json=body, headers=headers)
        retry = client.post("/api/agreements", json=body, headers=headers)
        again = client.post("/api/agreements", json=body, headers=w.auth("oncf"))
        shown = client.get("/api/agreements/new-rail-annex", headers=w.auth("auditor")).json()
    assert (first.status_code, retry.status_code, retry.json()) == (201, 201, first.json())
    assert first.json()["version"] == 1
    assert (again.status_code, again.json()) == (409, {"detail": "agreement new-rail-annex is already signed"})
    assert (shown["parent_ref"], shown["version"]) == (RAIL, 1)


def test_health_says_503_when_the_database_is_gone(postgres_url: str) -> None:
    with world(postgres_url) as w, TestClient(w.app) as client:
        assert client.get("/healthz").json()["database"] == "ok"
        drop_postgres_database(postgres_url)
        response = client.get("/healthz")
        assert response.status_code == 503
        body = response.json()
        assert (body["status"], body["position"], body["database"].startswith("error: ")) == ("error", None, True)
        refused = client.get("/api/agreements", headers=w.auth("admin"))
    assert (refused.status_code, refused.json()) == (503, {"detail": "the database is unavailable; try again later"})
