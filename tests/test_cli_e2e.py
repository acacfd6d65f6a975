"""The `commitments` command line, end to end: the installed console script in a subprocess, on a real database."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest

pytestmark = pytest.mark.slow  # every test starts real processes

COMMITMENTS = Path(sys.executable).parent / "commitments"
DEMO_REFS = ["made-in-morocco", "industrial-innovation-support", "mta-contract-programme", "pharma-local-manufacturing",
             "rail-test-platform"]
HISTORY_KEYS = {"version", "type", "recorded_at", "effective_on", "actor", "data", "hash", "prev_hash"}


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


def commitments(db: str, *args: str, cwd: Path | None = None, settings: dict[str, str] | None = None) -> Run:
    """Run the installed console script once, as a user would, and check it never shows a traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    env.update({"COLUMNS": "200", "COMMITMENTS_ACTOR": "cli:test", **(settings or {})})
    done = subprocess.run([str(COMMITMENTS), "--db", db, *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=60, check=False)
    assert "Traceback" not in done.stderr
    return Run(done.returncode, done.stdout, done.stderr)


def local_day(recorded_at: str) -> str:
    """The day a UTC timestamp falls on in the default time zone, where the CLI's "today" is."""
    return datetime.fromisoformat(recorded_at).astimezone(ZoneInfo("Africa/Casablanca")).date().isoformat()


def ok(db: str, *args: str) -> Run:
    run = commitments(db, *args)
    assert (run.code, run.stderr) == (0, ""), run.stderr
    return run


def stored(db: str) -> list[tuple[Any, ...]]:
    """Every row of the event store and the snapshot store, to show that a refused command wrote nothing."""
    if db.startswith("sqlite:///"):
        with sqlite3.connect(db.removeprefix("sqlite:///")) as conn:
            return [*conn.execute("SELECT rowid, * FROM stored_events ORDER BY rowid"),
                    *conn.execute("SELECT * FROM stored_snapshots ORDER BY originator_id, originator_version")]
    with psycopg.connect(db) as conn:
        return [*conn.execute("SELECT * FROM commitments_events ORDER BY notification_id"),
                *conn.execute("SELECT * FROM commitments_snapshots ORDER BY originator_id, originator_version")]


@pytest.fixture
def db(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'commitments.db'}"


@pytest.fixture(scope="module")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One demo load per module; each test gets its own copy of the file (the closed store holds no WAL)."""
    path = tmp_path_factory.mktemp("demo") / "commitments.db"
    ok(f"sqlite:///{path}", "demo")
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    return path


@pytest.fixture
def demo_db(demo_template: Path, tmp_path: Path) -> str:
    path = tmp_path / "commitments.db"
    shutil.copyfile(demo_template, path)
    return f"sqlite:///{path}"


def check_demo(db: str) -> None:
    """The issue's done-when list for the demo, on whichever store `db` names."""
    first = ok(db, "demo", "--json").json()
    assert first["refs"] == sorted(DEMO_REFS)
    assert first["events_written"] > 0
    listed = ok(db, "list", "--json").json()
    assert [row["ref"] for row in listed] == DEMO_REFS
    before = stored(db)
    assert len(before) >= first["events_written"]
    assert ok(db, "demo", "--json").json() == {"refs": sorted(DEMO_REFS), "events_written": 0}
    assert stored(db) == before


def test_demo_then_list_shows_the_five_refs_and_a_second_demo_adds_nothing(db: str) -> None:
    check_demo(db)


def test_two_demos_at_once_write_the_demo_once(db: str, demo_template: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    demos = [subprocess.Popen([str(COMMITMENTS), "--db", db, "demo", "--json"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outputs = [demo.communicate(timeout=120) for demo in demos]
    outcomes = [(demo.returncode, out, err) for demo, (out, err) in zip(demos, outputs, strict=True)]
    assert [(code, err) for code, _, err in outcomes] == [(0, ""), (0, "")]
    written = sum(json.loads(out)["events_written"] for _, out, _ in outcomes)
    assert len(stored(db)) == len(stored(f"sqlite:///{demo_template}"))
    assert written >= len(stored(db))  # each counts what the log grew by while it ran, so overlaps count twice
    assert [row["ref"] for row in ok(db, "list", "--json").json()] == DEMO_REFS


def test_list_without_json_is_a_table_for_people(demo_db: str) -> None:
    out = ok(demo_db, "list").stdout
    for ref in DEMO_REFS:
        assert ref in out
    assert "900,000,000 MAD" in out
    with pytest.raises(json.JSONDecodeError):
        json.loads(out)


def test_history_shows_every_event_with_its_dates_actor_facts_and_chain(demo_db: str) -> None:
    entries = ok(demo_db, "history", "rail-test-platform", "--json").json()
    assert [e["type"] for e in entries] == ["AgreementSigned", "MilestonePlanned", "MilestonePlanned", "MilestonePlanned",
                                            "MilestoneProgressReported"]
    assert all(set(e) >= HISTORY_KEYS for e in entries)
    assert [e["version"] for e in entries] == [1, 2, 3, 4, 5]
    assert [e["prev_hash"] for e in entries] == ["0" * 64] + [e["hash"] for e in entries[:-1]]
    assert {e["actor"] for e in entries} == {"demo-loader"}
    assert [e["effective_on"] for e in entries] == ["2025-11-03"] * 4 + ["2026-04-15"]
    assert [e["data"].get("milestone_id") for e in entries] == [None, "feasibility-study", "site-designation",
                                                                 "test-bench-commissioning", "feasibility-study"]
    assert entries[1]["data"]["due_on"] == "2026-06-30"
    assert entries[4]["data"]["percent"] == 40
    assert entries[0]["recorded_at"] <= entries[4]["recorded_at"]


def test_show_gives_the_extended_term_and_the_900_million_allocation(demo_db: str) -> None:
    state = ok(demo_db, "show", "industrial-innovation-support", "--json").json()
    assert state["term"]["ends_on"] == "2028-12-31"
    assert state["funding"]["MAD"]["allocated"] == "900000000"
    assert [(a["amount"], a["currency"]) for a in state["allocations"]] == [("900000000", "MAD")]
    assert state["beneficiaries"] == ["المقاولات الناشئة / startups",
                                      "الشركات العاملة في صناعة الألعاب الإلكترونية / video-game companies"]
    assert state["kind"] == "annex"


def test_rail_test_platform_has_an_overdue_milestone_on_2026_11_29(demo_db: str) -> None:
    state = ok(demo_db, "show", "rail-test-platform", "--json").json()
    overdue = [m["milestone_id"] for m in state["milestones"]
               if m["status"] in ("planned", "in_progress") and m["due_on"] < "2026-11-29"]
    assert overdue == ["feasibility-study", "site-designation"]


def test_show_as_effective_on_a_date_and_for_people(demo_db: str) -> None:
    before = ok(demo_db, "show", "rail-test-platform", "--effective-on", "2026-04-14", "--json").json()
    after = ok(demo_db, "show", "rail-test-platform", "--effective-on", "2026-04-15", "--json").json()
    assert [(m["milestone_id"], m["percent"]) for m in before["milestones"]] == [
        ("feasibility-study", 0), ("site-designation", 0), ("test-bench-commissioning", 0)]
    assert [(m["milestone_id"], m["percent"]) for m in after["milestones"]] == [
        ("feasibility-study", 40), ("site-designation", 0), ("test-bench-commissioning", 0)]
    page = ok(demo_db, "show", "rail-test-platform").stdout
    assert "اتفاقية إطار لإحداث منصة تقنية للتجارب والتطوير في الصناعة السككية" in page
    assert "feasibility-study" in page


def sign_file(tmp_path: Path, **changes: Any) -> str:
    body = {
        "ref": "tanger-med-logistics", "kind": "convention",
        "title": {"ar": "اتفاقية", "fr": "Convention logistique", "en": "Logistics convention"},
        "parties": [{"short_name": "MIC", "role": "lead", "name": {"ar": "وزارة", "fr": "Ministère", "en": "Ministry"}},
                    {"short_name": "TMSA", "name": {"ar": "طنجة المتوسط", "fr": "TMSA", "en": "TMSA"}}],
        "signed_on": "2026-01-15", "place": "Tanger", "occasion": "Port day",
        "starts_on": "2026-01-15", "ends_on": "2027-12-31", **changes,
    }
    path = tmp_path / "agreement.json"
    path.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return str(path)


ACTOR_JSON = ("--actor", "official:mic", "--json")


def test_sign_records_an_agreement_and_the_same_command_id_writes_nothing(db: str, tmp_path: Path) -> None:
    ref = "tanger-med-logistics"
    signed = ok(db, "sign", sign_file(tmp_path), "--command-id", "sign-1", "--effective-on", "2026-01-15", *ACTOR_JSON)
    assert signed.json() == {"ref": ref, "version": 1, "position": 1}
    before = stored(db)
    assert ok(db, "sign", sign_file(tmp_path), "--command-id", "sign-1", *ACTOR_JSON).json() == signed.json()
    assert stored(db) == before
    again = commitments(db, "sign", sign_file(tmp_path), "--command-id", "sign-2")
    assert (again.code, again.stderr) == (2, f"error: agreement {ref} is already signed\n")
    [entry] = ok(db, "history", ref, "--json").json()
    assert (entry["actor"], entry["effective_on"], entry["command_id"]) == ("official:mic", "2026-01-15", "sign-1")


def test_funding_commands_record_facts_and_a_repeated_command_id_writes_nothing(demo_db: str) -> None:
    ref = "industrial-innovation-support"
    version = ok(demo_db, "show", ref, "--json").json()["version"]
    steps = [
        ("extend", ref, "--until", "2029-12-31", "--instrument", "avenant 2", "--reason", "works delayed"),
        ("add-beneficiaries", ref, "--beneficiary", "SMEs", "--fund", "innovation fund"),
        ("fund", ref, "--amount", "1000000.50", "--fund", "innovation fund", "--purpose", "studies", "--fiscal-year", "2029",
         "--command-id", "fund-1"),
        ("disburse", ref, "--amount", "250000", "--value-date", "2026-11-20", "--tranche", "T2", "--source", "order 7"),
    ]
    for offset, step in enumerate(steps, start=1):
        assert ok(demo_db, *step, *ACTOR_JSON).json()["version"] == version + offset
    before = stored(demo_db)
    assert ok(demo_db, *steps[2], *ACTOR_JSON).json()["version"] == version + 3
    assert stored(demo_db) == before
    state = ok(demo_db, "show", ref, "--json").json()
    assert state["term"]["ends_on"] == "2029-12-31"
    assert state["funding"] == {"MAD": {"allocated": "901000000.50", "disbursed": "150250000"}}
    assert state["beneficiaries"][-1] == "SMEs"


def test_milestone_commands_record_facts(demo_db: str) -> None:
    ref = "rail-test-platform"
    steps = [
        ("milestone", "plan", ref, "tender", "--title", "Tender for the test track", "--due", "2027-06-30",
         "--responsible", "ONCF", "--kind", "delivery", "--effective-on", "2026-11-01"),
        ("milestone", "progress", ref, "feasibility-study", "--percent", "90", "--note", "draft delivered"),
        ("milestone", "complete", ref, "feasibility-study", "--evidence", "final report", "--on", "2026-05-10"),
        ("milestone", "reschedule", ref, "site-designation", "--due", "2027-03-31", "--reason", "land survey"),
        ("milestone", "cancel", ref, "tender", "--reason", "merged into the platform works"),
        ("contact", "add", ref, "ONCF", "--channel", "email", "--address", "pmo@oncf.ma"),
    ]
    demo_version, demo_events = ok(demo_db, "show", ref, "--json").json()["version"], len(stored(demo_db))
    assert demo_version == 5
    for offset, step in enumerate(steps, start=1):
        assert ok(demo_db, *step, *ACTOR_JSON).json() == {"ref": ref, "version": demo_version + offset,
                                                          "position": demo_events + offset}
    state = ok(demo_db, "show", ref, "--json").json()
    assert [(m["milestone_id"], m["status"], m["percent"], m["due_on"], m["completed_on"]) for m in state["milestones"]] == [
        ("feasibility-study", "completed", 100, "2026-06-30", "2026-05-10"),
        ("site-designation", "planned", 0, "2027-03-31", None),
        ("tender", "cancelled", 0, "2027-06-30", None),
        ("test-bench-commissioning", "planned", 0, "2028-06-30", None),
    ]
    assert state["contacts"] == [{"party": "ONCF", "channel": "email", "address": "pmo@oncf.ma"}]
    history = ok(demo_db, "history", ref, "--json").json()
    assert [(e["type"], e["effective_on"], e["actor"]) for e in history[5:7]] == [
        ("MilestonePlanned", "2026-11-01", "official:mic"), ("MilestoneProgressReported", local_day(history[6]["recorded_at"]),
                                                             "official:mic")]
    assert history[7]["data"] == {"milestone_id": "feasibility-study", "completed_on": "2026-05-10", "evidence": "final report"}
    assert history[8]["data"]["previous_due_on"] == "2026-09-30"


def test_a_write_with_a_stale_expected_version_is_refused_and_stores_nothing(demo_db: str) -> None:
    ref = "rail-test-platform"
    version = ok(demo_db, "show", ref, "--json").json()["version"]
    progress = ("milestone", "progress", ref, "feasibility-study", "--percent", "90", "--note", "draft delivered")
    assert ok(demo_db, *progress, "--expected-version", str(version), *ACTOR_JSON).json()["version"] == version + 1
    before = stored(demo_db)
    stale = commitments(demo_db, "extend", ref, "--until", "2031-12-31", "--instrument", "annex", "--reason", "r",
                        "--expected-version", str(version))
    assert (stale.code, stale.stderr) == (2, f"error: agreement {ref} is at version {version + 1}, not the expected "
                                             f"version {version}; reload and try again\n")
    assert stored(demo_db) == before
    zero = commitments(demo_db, *progress, "--expected-version", "0")
    assert (zero.code, zero.stderr) == (
        2, "error: Invalid value for '--expected-version': Input should be greater than or equal to 1\n")
    assert stored(demo_db) == before


def test_a_terminated_agreement_takes_no_more_funding(demo_db: str) -> None:
    ref = "mta-contract-programme"
    ok(demo_db, "terminate", ref, "--on", "2026-11-01", "--reason", "cluster dissolved")
    before = stored(demo_db)
    refused = commitments(demo_db, "fund", ref, "--amount", "5", "--fund", "f", "--purpose", "p")
    assert (refused.code, refused.stderr) == (2, f"error: agreement {ref} is terminated; it takes no new facts\n")
    assert stored(demo_db) == before
    assert ok(demo_db, "show", ref, "--json").json()["status"] == "terminated"


def test_a_milestone_completed_without_a_date_is_completed_today(demo_db: str) -> None:
    ok(demo_db, "milestone", "complete", "rail-test-platform", "site-designation", "--evidence", "decree published")
    state = ok(demo_db, "show", "rail-test-platform", "--json").json()
    [site] = [m for m in state["milestones"] if m["milestone_id"] == "site-designation"]
    history = ok(demo_db, "history", "rail-test-platform", "--json").json()
    assert site["status"] == "completed"
    assert site["completed_on"] == history[-1]["effective_on"] == local_day(history[-1]["recorded_at"])


BAD_INPUT = [
    pytest.param(("show", "no-such-ref"), "error: no agreement with ref 'no-such-ref'", id="unknown-ref-show"),
    pytest.param(("history", "no-such-ref", "--json"), "error: no agreement with ref 'no-such-ref'", id="unknown-ref-history"),
    pytest.param(("fund", "no-such-ref", "--amount", "5", "--fund", "f", "--purpose", "p"),
                 "error: no agreement with ref 'no-such-ref'", id="unknown-ref-write"),
    pytest.param(("milestone", "progress", "rail-test-platform", "no-such-milestone", "--percent", "50", "--note", "n"),
                 "error: rail-test-platform has no milestone 'no-such-milestone'", id="unknown-milestone"),
    pytest.param(("disburse", "industrial-innovation-support", "--amount", "5", "--value-date", "2026-02-30",
                  "--tranche", "T2"),
                 "error: value_date: Input should be a valid date or datetime, day value is outside expected range",
                 id="bad-date"),
    pytest.param(("extend", "rail-test-platform", "--until", "31/12/2030", "--instrument", "a", "--reason", "r"),
                 "error: ends_on: Input should be a valid date or datetime, invalid character in year",
                 id="bad-date-format"),
    pytest.param(("show", "rail-test-platform", "--as-of", "2026-13-01"),
                 "error: --as-of: '2026-13-01' is not a date; use YYYY-MM-DD", id="bad-as-of"),
    pytest.param(("fund", "rail-test-platform", "--amount", "-5", "--fund", "f", "--purpose", "p"),
                 "error: amount: Input should be greater than 0", id="negative-amount"),
    pytest.param(("disburse", "industrial-innovation-support", "--amount", "-150000000", "--value-date", "2026-07-01",
                  "--tranche", "T2"), "error: amount: Input should be greater than 0", id="negative-disbursement"),
    pytest.param(("fund", "rail-test-platform", "--amount", "10.001", "--fund", "f", "--purpose", "p"),
                 "error: amount: Decimal input should have no more than 2 decimal places", id="sub-cent-amount"),
    pytest.param(("disburse", "industrial-innovation-support", "--amount", "750000000.01", "--value-date", "2026-07-01",
                  "--tranche", "T2"),
                 "error: disbursing 750000000.01 MAD would exceed the allocation: 900000000 allocated, "
                 "150000000 already disbursed", id="over-disbursement"),
    pytest.param(("extend", "industrial-innovation-support", "--until", "2027-12-31", "--instrument", "a", "--reason", "r"),
                 "error: an extension must end after the current term (2028-12-31); got 2027-12-31", id="shortening"),
    pytest.param(("milestone", "progress", "rail-test-platform", "feasibility-study", "--percent", "10", "--note", "n"),
                 "error: progress on feasibility-study would fall from 40% to 10%; give a reason", id="progress-decrease"),
    pytest.param(("milestone", "complete", "made-in-morocco", "label-charter", "--evidence", "again"),
                 "error: milestone label-charter of made-in-morocco is completed", id="completed-twice"),
    pytest.param(("milestone", "complete", "rail-test-platform", "site-designation", "--evidence", "e", "--on", "2099-01-01"),
                 "error: a milestone cannot be completed on 2099-01-01, a day still to come", id="completed-in-the-future"),
    pytest.param(("fund", "rail-test-platform", "--amount", "5", "--fund", "f", "--purpose", "p", "--colour", "red"),
                 "error: No such option: --colour (Possible options: --actor, --source)", id="unknown-option"),
    pytest.param(("milestone", "plan", "rail-test-platform", "m1", "--title", "t", "--due", "2027-01-01",
                  "--responsible", "CGEM"),
                 "error: CGEM is not a party to rail-test-platform (parties: MIC, ONCF, MTI)", id="unknown-party"),
    pytest.param(("frobnicate",), "error: No such command 'frobnicate'.", id="unknown-command"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUT)
def test_bad_input_gives_one_line_exit_2_and_writes_nothing(demo_db: str, args: tuple[str, ...], message: str) -> None:
    before = stored(demo_db)
    run = commitments(demo_db, *args)
    assert (run.code, run.stderr, run.stdout) == (2, message + "\n", "")
    assert stored(demo_db) == before


def test_an_unknown_field_in_the_sign_file_is_refused(demo_db: str, tmp_path: Path) -> None:
    db = demo_db
    before = stored(db)
    run = commitments(db, "sign", sign_file(tmp_path, colour="red"))
    assert (run.code, run.stderr, run.stdout) == (2, "error: colour: Extra inputs are not permitted\n", "")
    run = commitments(db, "sign", sign_file(tmp_path, parties=[{"short_name": "MIC", "name": {"ar": "a", "fr": "b", "en": "c"},
                                                                 "is_admin": True}]))
    assert (run.code, run.stderr) == (2, "error: parties.0.is_admin: Extra inputs are not permitted\n")
    assert stored(db) == before


@pytest.mark.parametrize(("content", "message"), [
    ("{", "is not valid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("[]", "must hold one JSON object"),
])
def test_a_sign_file_that_is_not_a_json_object_is_refused(db: str, tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "agreement.json"
    path.write_text(content, encoding="utf-8")
    run = commitments(db, "sign", str(path))
    assert (run.code, run.stderr) == (2, f"error: {path} {message}\n")


@pytest.mark.parametrize(("url", "message"), [
    ("mysql://localhost/x", "error: database URL must start with sqlite:/// or postgresql://, got 'mysql://localhost/x'"),
    ("sqlite:///{tmp}/no-such-dir/x.db", "error: database error: unable to open database file"),
    ("sqlite:///{tmp}/notes.txt", "error: database error: file is not a database"),
])
def test_a_database_that_cannot_be_used_gives_one_line(tmp_path: Path, url: str, message: str) -> None:
    (tmp_path / "notes.txt").write_text("not a database, but a user's notes\n" * 100, encoding="utf-8")
    run = commitments(url.format(tmp=tmp_path), "list", "--json")
    assert (run.code, run.stderr, run.stdout) == (2, message + "\n", "")


@pytest.mark.parametrize(("settings", "message"), [
    ({"COMMITMENTS_TIMEZONE": "Mars/Olympus"},
     "error: timezone: Value error, unknown time zone 'Mars/Olympus'; use an IANA name such as Africa/Casablanca"),
    ({"COMMITMENTS_SNAPSHOT_INTERVAL": "1"}, "error: snapshot_interval: Input should be greater than or equal to 2"),
])
def test_a_bad_setting_in_the_environment_gives_one_line(db: str, settings: dict[str, str], message: str) -> None:
    run = commitments(db, "list", "--json", settings=settings)
    assert (run.code, run.stderr, run.stdout) == (2, message + "\n", "")


def test_the_default_database_is_commitments_db_in_the_current_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMMITMENTS_")}
    done = subprocess.run([str(COMMITMENTS), "demo"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60,
                          check=False)
    assert (done.returncode, done.stderr) == (0, "")
    assert (tmp_path / "commitments.db").is_file()
    assert len(ok(f"sqlite:///{tmp_path / 'commitments.db'}", "list", "--json").json()) == 5


# The same CLI on PostgreSQL: a subset, through --db postgresql://...

def test_demo_on_postgresql(postgres_url: str) -> None:
    check_demo(postgres_url)
    state = ok(postgres_url, "show", "industrial-innovation-support", "--json").json()
    assert (state["term"]["ends_on"], state["funding"]["MAD"]["allocated"]) == ("2028-12-31", "900000000")
    entries = ok(postgres_url, "history", "rail-test-platform", "--json").json()
    assert [e["prev_hash"] for e in entries[1:]] == [e["hash"] for e in entries[:-1]]


def test_bad_input_on_postgresql_writes_nothing(postgres_url: str) -> None:
    ok(postgres_url, "demo")
    before = stored(postgres_url)
    for args, message in [
        (("disburse", "industrial-innovation-support", "--amount", "750000000.01", "--value-date", "2026-07-01",
          "--tranche", "T2"),
         "error: disbursing 750000000.01 MAD would exceed the allocation: 900000000 allocated, 150000000 already disbursed"),
        (("show", "no-such-ref", "--json"), "error: no agreement with ref 'no-such-ref'"),
        (("fund", "rail-test-platform", "--amount", "-1", "--fund", "f", "--purpose", "p"),
         "error: amount: Input should be greater than 0"),
    ]:
        run = commitments(postgres_url, *args)
        assert (run.code, run.stderr, run.stdout) == (2, message + "\n", "")
    assert stored(postgres_url) == before
