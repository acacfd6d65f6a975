"""The projections' done-when checks through the real CLI: lag 0 after demo; list and overdue unchanged by rebuild."""

from __future__ import annotations

import json

import pytest

from tests.test_projections_support import cli

VIEWS = ["agreements", "milestones", "funding", "portfolio", "activity"]


@pytest.mark.slow
def test_demo_status_rebuild_list_and_overdue(database_url: str) -> None:
    assert cli(database_url, "demo", "--json").returncode == 0
    status = cli(database_url, "projections", "status", "--json")
    assert status.returncode == 0, status.stderr
    rows = json.loads(status.stdout)
    head = rows[0]["position"]
    assert head >= 30
    assert rows == [{"name": name, "position": head, "lag": 0} for name in VIEWS]
    listed = cli(database_url, "list", "--json")
    overdue = cli(database_url, "overdue", "--as-of", "2026-11-29", "--json")
    assert listed.returncode == overdue.returncode == 0

    items = json.loads(overdue.stdout)
    assert all(list(item) == ["agreement_ref", "milestone_id", "title", "due_on", "days_overdue", "responsible"]
               for item in items)
    rail = [(i["milestone_id"], i["due_on"], i["days_overdue"]) for i in items if i["agreement_ref"] == "rail-test-platform"]
    assert rail == [("feasibility-study", "2026-06-30", 152), ("site-designation", "2026-09-30", 60)]
    assert [r["ref"] for r in json.loads(listed.stdout)] == [
        "made-in-morocco", "industrial-innovation-support", "mta-contract-programme", "pharma-local-manufacturing",
        "rail-test-platform"]

    rebuilt = cli(database_url, "projections", "rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilding views" in rebuilt.stderr
    assert cli(database_url, "list", "--json").stdout == listed.stdout
    assert cli(database_url, "overdue", "--as-of", "2026-11-29", "--json").stdout == overdue.stdout
    assert json.loads(cli(database_url, "projections", "status", "--json").stdout) == [
        {"name": name, "position": head, "lag": 0} for name in VIEWS]

    portfolio = cli(database_url, "portfolio", "ONCF", "--as-of", "2026-11-29", "--json")
    assert portfolio.returncode == 0, portfolio.stderr
    assert [(m["milestone_id"], m["overdue"]) for m in json.loads(portfolio.stdout)["milestones"]] == [
        ("feasibility-study", True)]


@pytest.mark.parametrize(("args", "message"), [
    (["overdue", "--as-of", "29/11/2026"], "error: --as-of: '29/11/2026' is not a date; use YYYY-MM-DD\n"),
    (["portfolio", "NOBODY"], "error: NOBODY is not a party to any agreement\n"),
])
def test_bad_input_is_one_line_and_exit_2(sqlite_url: str, args: list[str], message: str) -> None:
    result = cli(sqlite_url, *args)
    assert (result.returncode, result.stdout, result.stderr) == (2, "", message)
