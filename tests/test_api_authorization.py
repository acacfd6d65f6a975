"""The role × route × object matrix: who may read and write what, over HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.api_world import World, world

RAIL = "rail-test-platform"  # parties: MIC, ONCF, MTI
PHARMA = "pharma-local-manufacturing"  # ONCF is not a party


@pytest.fixture
def api(database_url: str) -> Iterator[tuple[World, TestClient]]:
    with world(database_url) as w, TestClient(w.app) as client:
        yield w, client


READS = [
    ("GET", "/api/agreements", None),
    ("GET", f"/api/agreements/{RAIL}", None),
    ("GET", f"/api/agreements/{PHARMA}/history", None),
    ("GET", "/api/overdue?as_of=2026-11-29", None),
    ("GET", "/api/audit/verify", None),
]


def sign_body(ref: str, party: str) -> dict[str, Any]:
    return {"ref": ref, "kind": "convention", "title": {"ar": "اتفاقية", "fr": "Convention", "en": "Convention"},
            "parties": [{"short_name": party, "role": "lead", "name": {"ar": party, "fr": party, "en": party}}],
            "signed_on": "2026-01-10", "place": "Rabat", "occasion": "test", "starts_on": "2026-01-10",
            "ends_on": "2027-01-10"}


def writes(who: str) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, body, object) where object says whose agreement it is: 'oncf', 'other' or 'new-*'."""
    return [
        ("POST", f"/api/agreements/{RAIL}/milestones/feasibility-study/progress",
         {"percent": 90, "note": f"progress by {who}"}, "oncf"),
        ("POST", f"/api/agreements/{RAIL}/milestones", {"milestone_id": f"m-{who}", "title": "New step",
                                                         "due_on": "2027-05-01", "responsible": "ONCF"}, "oncf"),
        ("POST", f"/api/agreements/{RAIL}/funding", {"amount": "1000.00", "fund": "FDII", "purpose": "tests"}, "oncf"),
        ("POST", f"/api/agreements/{PHARMA}/milestones/pilot-line/progress", {"percent": 10, "note": "x"}, "other"),
        ("POST", f"/api/agreements/{PHARMA}/milestones/rd-programme/reschedule",
         {"due_on": "2027-09-30", "reason": "budget"}, "other"),
        ("POST", "/api/agreements", sign_body(f"new-oncf-{who}", "ONCF"), "new-oncf"),
        ("POST", "/api/agreements", sign_body(f"new-msps-{who}", "MSPS"), "new-msps"),
    ]


def expected(who: str, method: str, obj: str) -> int:
    if who in ("nobody", "bad"):
        return 401
    if method == "GET":
        return 200
    if who == "auditor":
        return 403
    if who == "admin":
        return 201
    return 201 if obj in ("oncf", "new-oncf") else 403


def test_role_route_object_matrix(api: tuple[World, TestClient]) -> None:
    w, client = api
    outcomes: dict[tuple[str, str, str], int] = {}
    wanted: dict[tuple[str, str, str], int] = {}
    for who in ("nobody", "bad", "auditor", "oncf", "admin"):
        for method, path, _body in READS:
            outcomes[(who, method, path)] = client.request(method, path, headers=w.auth(who)).status_code
            wanted[(who, method, path)] = expected(who, method, "")
        for method, path, body, obj in writes(who):
            key = (who, method, f"{path} [{obj}]")
            outcomes[key] = client.request(method, path, json=body, headers=w.auth(who)).status_code
            wanted[key] = expected(who, method, obj)
    assert outcomes == wanted


def test_the_actor_comes_from_the_token_and_forbidden_writes_record_nothing(api: tuple[World, TestClient]) -> None:
    w, client = api
    before = [e["version"] for e in w.backend.service.history(PHARMA)]
    denied = client.post(f"/api/agreements/{PHARMA}/milestones/pilot-line/progress",
                         json={"percent": 10, "note": "not mine"}, headers=w.auth("oncf"))
    assert denied.status_code == 403
    assert denied.json() == {"detail": "ONCF is not a party to pharma-local-manufacturing; "
                                       "an official writes only to their own agreements"}
    assert [e["version"] for e in w.backend.service.history(PHARMA)] == before

    done = client.post(f"/api/agreements/{RAIL}/milestones/feasibility-study/progress",
                       json={"percent": 60, "note": "bench design reviewed"}, headers=w.auth("oncf"))
    assert done.status_code == 201
    last = list(w.backend.service.history(RAIL))[-1]
    assert (last["type"], last["actor"], last["data"]["percent"]) == ("MilestoneProgressReported", "user:oncf", 60)


@pytest.mark.parametrize(("who", "status", "detail"), [
    ("nobody", 401, "a bearer token is required"),
    ("bad", 401, "the token is unknown or revoked"),
    ("auditor", 403, "auditors read only; they cannot record facts"),
])
def test_refusals_say_why(sqlite_url: str, who: str, status: int, detail: str) -> None:
    with world(sqlite_url) as w, TestClient(w.app) as client:
        response = client.post(f"/api/agreements/{RAIL}/milestones/feasibility-study/progress",
                               json={"percent": 70, "note": "x"}, headers=w.auth(who))
    assert (response.status_code, response.json()) == (status, {"detail": detail})
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_revoked_token_stops_working(sqlite_url: str) -> None:
    with world(sqlite_url) as w, TestClient(w.app) as client:
        assert client.get("/api/agreements", headers=w.auth("oncf")).status_code == 200
        assert w.backend.users.revoke("oncf") == 1
        response = client.get("/api/agreements", headers=w.auth("oncf"))
    assert (response.status_code, response.json()) == (401, {"detail": "the token is unknown or revoked"})


def test_unknown_fields_are_refused_and_nothing_is_written(api: tuple[World, TestClient]) -> None:
    w, client = api
    before = w.backend.service.max_position()
    response = client.post(f"/api/agreements/{RAIL}/milestones/feasibility-study/progress",
                           json={"percent": 70, "note": "x", "actor": "someone-else"}, headers=w.auth("admin"))
    assert (response.status_code, response.json()) == (422, {"detail": "body.actor: Extra inputs are not permitted"})
    assert w.backend.service.max_position() == before
