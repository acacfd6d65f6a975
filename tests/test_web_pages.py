"""The web UI over HTTP: sign-in, CSRF, who sees and submits which forms, languages, security headers."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.api_world import World, world

RAIL = "rail-test-platform"
PHARMA = "pharma-local-manufacturing"


@pytest.fixture
def site(sqlite_url: str) -> Iterator[tuple[World, TestClient]]:
    with world(sqlite_url) as w, TestClient(w.app, follow_redirects=False) as client:
        yield w, client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def sign_in(client: TestClient, token: str) -> None:
    csrf = csrf_of(client.get("/signin").text)
    response = client.post("/signin", data={"csrf": csrf, "token": token, "next": "/"})
    assert (response.status_code, response.headers["location"]) == (303, "/")


def test_pages_ask_for_a_token_first(site: tuple[World, TestClient]) -> None:
    _, client = site
    for path in ("/", f"/agreements/{RAIL}", "/overdue", "/audit"):
        response = client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, f"/signin?next={path.replace('/', '%2F')}")


def test_sign_in_sets_a_signed_http_only_cookie_and_a_bad_token_is_refused(site: tuple[World, TestClient]) -> None:
    w, client = site
    csrf = csrf_of(client.get("/signin").text)
    refused = client.post("/signin", data={"csrf": csrf, "token": "ct_nope", "next": "/"})
    assert refused.status_code == 401
    assert "This token is unknown or revoked." in refused.text or "Ce jeton est inconnu ou révoqué." in refused.text
    accepted = client.post("/signin", data={"csrf": csrf, "token": w.tokens["auditor"], "next": "//evil.example/"})
    assert (accepted.status_code, accepted.headers["location"]) == (303, "/")  # no open redirect
    cookie = accepted.headers["set-cookie"]
    assert cookie.startswith("ct_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert w.tokens["auditor"] not in cookie
    assert client.get("/").status_code == 200


def test_a_tampered_session_cookie_counts_as_signed_out(site: tuple[World, TestClient]) -> None:
    w, client = site
    sign_in(client, w.tokens["admin"])
    value = client.cookies["ct_session"]
    client.cookies.set("ct_session", value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert client.get("/").status_code == 303


def test_a_form_without_the_csrf_token_writes_nothing(site: tuple[World, TestClient]) -> None:
    w, client = site
    sign_in(client, w.tokens["oncf"])
    before = w.backend.service.max_position()
    response = client.post(f"/agreements/{RAIL}/milestones/feasibility-study/progress",
                           data={"csrf": "forged", "percent": "80", "note": "forged", "nonce": "n1"})
    assert response.status_code == 403
    assert w.backend.service.max_position() == before


def test_an_official_writes_through_the_forms_once_per_submission(site: tuple[World, TestClient]) -> None:
    w, client = site
    sign_in(client, w.tokens["oncf"])
    page = client.get(f"/agreements/{RAIL}")
    assert page.status_code == 200
    assert 'class="progress-form"' in page.text
    form = {"csrf": csrf_of(page.text), "percent": "80", "note": "site visit done", "nonce": "abc-1p"}
    first = client.post(f"/agreements/{RAIL}/milestones/feasibility-study/progress", data=form)
    assert (first.status_code, first.headers["location"]) == (303, f"/agreements/{RAIL}?done=progress#history")
    position = w.backend.service.max_position()
    again = client.post(f"/agreements/{RAIL}/milestones/feasibility-study/progress", data=form)  # a double click
    assert again.status_code == 303
    assert w.backend.service.max_position() == position
    last = list(w.backend.service.history(RAIL))[-1]
    assert (last["type"], last["actor"], last["data"]["note"]) == ("MilestoneProgressReported", "user:oncf",
                                                                   "site visit done")
    reschedule = client.post(f"/agreements/{RAIL}/milestones/site-designation/reschedule",
                             data={"csrf": form["csrf"], "due_on": "2027-01-31", "reason": "", "nonce": "abc-2r"})
    assert reschedule.status_code == 422
    assert '<p class="error" role="alert">reason: Field required</p>' in reschedule.text
    assert w.backend.service.max_position() == position


@pytest.mark.parametrize(("who", "ref", "status"), [("auditor", RAIL, 403), ("oncf", PHARMA, 403), ("admin", PHARMA, 303)])
def test_form_writes_follow_the_same_authorization_as_the_api(sqlite_url: str, who: str, ref: str, status: int) -> None:
    with world(sqlite_url) as w, TestClient(w.app, follow_redirects=False) as client:
        sign_in(client, w.tokens[who])
        page = client.get(f"/agreements/{ref}")
        assert ('class="progress-form"' in page.text) == (status == 303)
        milestone = "feasibility-study" if ref == RAIL else "pilot-line"
        response = client.post(f"/agreements/{ref}/milestones/{milestone}/progress",
                               data={"csrf": csrf_of(page.text), "percent": "90", "note": "x", "nonce": "z"})
        assert response.status_code == status


def test_languages_and_direction(site: tuple[World, TestClient]) -> None:
    w, client = site
    sign_in(client, w.tokens["auditor"])
    switched = client.get(f"/lang/ar?next=/agreements/{RAIL}")
    assert (switched.status_code, switched.headers["location"]) == (303, f"/agreements/{RAIL}")
    arabic = client.get(f"/agreements/{RAIL}").text
    assert '<html lang="ar" dir="rtl">' in arabic
    assert "اتفاقية إطار لإحداث منصة تقنية" in arabic
    client.get("/lang/fr")
    assert '<html lang="fr" dir="ltr">' in client.get("/").text
    client.get("/lang/xx")  # unknown: stays as it was
    assert '<html lang="fr" dir="ltr">' in client.get("/").text


def test_pages_load_nothing_from_elsewhere(site: tuple[World, TestClient]) -> None:
    w, client = site
    sign_in(client, w.tokens["auditor"])
    for path in ("/", f"/agreements/{RAIL}", "/overdue?as_of=2026-11-29", "/audit"):
        response = client.get(path)
        assert response.status_code == 200
        assert response.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self'")
        assert re.findall(r'(?:src|href)="(https?:)?//', response.text) == []
    assert client.get("/static/vendor/chart.umd.js").text.startswith("/*!\n * Chart.js v4")
    audit = client.get("/audit").text
    assert 'data-ok="true"' in audit
    overdue = client.get("/overdue?as_of=2026-11-29").text
    assert overdue.count('data-milestone="') == 3
