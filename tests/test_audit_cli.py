"""The audit commands end to end, as an auditor runs them: real processes on a real SQLite file and PostgreSQL."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.service import CommitmentService
from app.settings import Settings
from tests.audit_support import Tamperer
from tests.conftest import create_postgres_database, drop_postgres_database

COMMITMENTS = str(Path(sys.executable).parent / "commitments")
RAIL = "rail-test-platform"


def run(url: str, *args: str, columns: int = 80) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
    return subprocess.run([COMMITMENTS, "--db", url, *args], capture_output=True, text=True, timeout=120, check=False,
                          env=env)


def ok(url: str, *args: str, columns: int = 80) -> str:
    done = run(url, *args, columns=columns)
    assert done.returncode == 0, done.stderr
    return done.stdout


def tamper(url: str) -> Tamperer:
    return Tamperer(CommitmentService(Settings(database_url=url)))


@pytest.fixture
def second_url(database_url: str, tmp_path: Path) -> Iterator[str]:
    """Another empty database on the same backend, to import into."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)


@pytest.mark.slow
def test_after_demo_the_store_verifies_and_one_changed_byte_in_the_file_is_named(sqlite_url: str) -> None:
    ok(sqlite_url, "demo")
    assert json.loads(ok(sqlite_url, "audit", "verify", "--json")) == {
        "ok": True, "agreements_checked": 5, "events_checked": 32, "problems": []}
    history = json.loads(ok(sqlite_url, "history", RAIL, "--json"))
    target = history[2]["hash"].encode()
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    content = path.read_bytes()
    at = content.index(b'"hash":"' + target) + len(b'"hash":"')
    assert content.count(b'"hash":"' + target) == 1
    path.write_bytes(content[:at] + (b"f" if content[at:at + 1] != b"f" else b"e") + content[at + 1:])

    done = run(sqlite_url, "audit", "verify", "--json")
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is False
    assert [(p["agreement"], p["version"], p["problem"]) for p in report["problems"]] == [
        (RAIL, 3, "the event's content does not match its hash: it was edited"),
        (RAIL, 4, "prev_hash does not link to version 3: an event was inserted, replaced or reordered"),
    ]
    text = run(sqlite_url, "audit", "verify")
    assert text.returncode == 1
    assert RAIL in text.stdout
    assert "2 problems" in text.stdout


@pytest.mark.slow
def test_a_digest_catches_the_newest_event_deleted(database_url: str) -> None:
    ok(database_url, "demo")
    digest = ok(database_url, "audit", "digest").strip()
    assert digest.startswith("ctd1.5.")
    assert json.loads(ok(database_url, "audit", "digest", "--json"))["digest"] == digest
    assert "the store extends the digest" in ok(database_url, "audit", "verify", "--digest", digest)

    t = tamper(database_url)
    newest = t.newest_position()
    t.execute("DELETE FROM {table} WHERE {position}=:p", p=newest)
    t.service.close()

    assert run(database_url, "audit", "verify").returncode == 0  # the chains alone still hold
    done = run(database_url, "audit", "verify", "--digest", digest, "--json")
    assert done.returncode == 1
    problems = json.loads(done.stdout)["problems"]
    assert len(problems) == 1
    assert "covered by the digest, is missing" in problems[0]["problem"]


@pytest.mark.slow
def test_digest_inputs_that_are_malformed_or_wrong(sqlite_url: str) -> None:
    ok(sqlite_url, "demo")
    digest = ok(sqlite_url, "audit", "digest").strip()
    for malformed in ("garbage", digest + "x*", digest.replace("ctd1", "ctd9"), "ctd1.5.abc.def"):
        done = run(sqlite_url, "audit", "verify", "--digest", malformed)
        assert done.returncode == 2
        assert done.stderr.startswith("error: --digest: ")
        assert done.stderr.count("\n") == 1
        assert "Traceback" not in done.stderr
    prefix, count, _root, packed = digest.split(".")
    wrong = ".".join((prefix, count, "0" * 64, packed))
    done = run(sqlite_url, "audit", "verify", "--digest", wrong, "--json")
    assert done.returncode == 1
    assert json.loads(done.stdout)["problems"][0]["problem"].startswith("the events the digest covers no longer hash")


@pytest.mark.slow
def test_export_import_round_trip_keeps_every_hash(database_url: str, second_url: str, tmp_path: Path) -> None:
    ok(database_url, "demo")
    ok(database_url, "extend", RAIL, "--until", "2031-12-31", "--instrument", "annex 1", "--reason", "delays",
       "--effective-on", "2026-05-01")
    digest = ok(database_url, "audit", "digest").strip()
    log = tmp_path / "log.jsonl"
    ok(database_url, "export", "--format", "jsonl", "--output", str(log))
    lines = [json.loads(x) for x in log.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == 33
    assert set(lines[0]) == {"position", "originator_id", "originator_version", "topic", "hash", "prev_hash", "state"}

    assert json.loads(ok(second_url, "import", str(log), "--json")) == {"events": 33, "agreements": 5}
    assert json.loads(ok(second_url, "audit", "verify", "--json"))["ok"] is True
    assert ok(second_url, "audit", "verify", "--digest", digest)
    assert ok(second_url, "audit", "digest").strip() == digest
    again = tmp_path / "again.jsonl"
    ok(second_url, "export", "--format", "jsonl", "--output", str(again))
    strip = [{k: v for k, v in x.items() if k != "position"} for x in lines]
    assert [{k: v for k, v in json.loads(x).items() if k != "position"}
            for x in again.read_text(encoding="utf-8").splitlines()] == strip
    assert json.loads(ok(second_url, "show", RAIL, "--json")) == json.loads(ok(database_url, "show", RAIL, "--json"))

    refused = run(second_url, "import", str(log))
    assert refused.returncode == 2
    assert refused.stderr == "error: the database already holds events; import only restores into an empty database\n"


@pytest.mark.slow
def test_import_refuses_a_log_that_does_not_verify_and_writes_nothing(sqlite_url: str, tmp_path: Path) -> None:
    ok(sqlite_url, "demo")
    log = tmp_path / "log.jsonl"
    ok(sqlite_url, "export", "--format", "jsonl", "--output", str(log))
    lines = log.read_text(encoding="utf-8").splitlines()
    line = json.loads(lines[7])
    line["state"] = line["state"].replace('"actor":"demo-loader"', '"actor":"demo-loadeR"', 1)
    lines[7] = json.dumps(line, ensure_ascii=False)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert tampered.read_text(encoding="utf-8") != log.read_text(encoding="utf-8")
    target = f"sqlite:///{tmp_path / 'target.db'}"
    done = run(target, "import", str(tampered))
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {tampered} does not verify, nothing imported: agreement ")
    assert done.stderr.endswith(": the event's content does not match its hash: it was edited\n")
    assert done.stderr.count("\n") == 1
    assert json.loads(ok(target, "audit", "verify", "--json"))["events_checked"] == 0

    for name, body, message in (
        ("notjson.jsonl", "{nope\n", "line 1: not JSON (Expecting property name enclosed in double quotes)"),
        ("array.jsonl", "[1]\n", "line 1: expected a JSON object"),
        ("missing.jsonl", '{"topic": "x"}\n', "line 1: missing 'originator_id'"),
        ("badid.jsonl", '{"originator_id": "zz", "originator_version": 1, "topic": "t", "state": "{}"}\n',
         "line 1: originator_id, state or state_base64 is not well formed"),
        ("empty.jsonl", "", f"{tmp_path / 'empty.jsonl'} holds no events"),
    ):
        path = tmp_path / name
        path.write_text(body, encoding="utf-8")
        done = run(target, "import", str(path))
        assert (done.returncode, done.stderr) == (2, f"error: {message}\n")
    assert run(target, "import", str(tmp_path / "absent.jsonl")).returncode == 2
    assert json.loads(ok(target, "audit", "verify", "--json"))["events_checked"] == 0


@pytest.mark.slow
def test_diff_says_what_changed_in_words(sqlite_url: str) -> None:
    ok(sqlite_url, "demo")
    ok(sqlite_url, "extend", RAIL, "--until", "2031-12-31", "--instrument", "annex 1", "--reason", "delays")
    changes = json.loads(ok(sqlite_url, "diff", RAIL, "4", "6", "--json"))
    assert changes["changes"] == [
        "term end moved from 2029-12-31 to 2031-12-31",
        "milestone feasibility-study status changed from planned to in_progress",
        "milestone feasibility-study progress 0% -> 40%",
    ]
    assert [e["version"] for e in changes["events"]] == [5, 6]
    assert "term end moved" in ok(sqlite_url, "diff", RAIL, "4", "6")
    bad = run(sqlite_url, "diff", RAIL, "1", "99")
    assert bad.returncode == 2
    assert bad.stderr == f"error: {RAIL} has versions 1 to 6; there is no version 99\n"
    assert run(sqlite_url, "diff", "no-such-ref", "1", "2").returncode == 2


@pytest.mark.slow
def test_export_refuses_an_unknown_format(sqlite_url: str) -> None:
    done = run(sqlite_url, "export", "--format", "xml")
    assert done.returncode == 2
    assert done.stderr == "error: --format must be one of jsonl, csv, ocds, got 'xml'\n"


@pytest.mark.slow
def test_show_travels_in_time_and_history_shows_both_dates(sqlite_url: str) -> None:
    ok(sqlite_url, "demo")

    def feasibility(*args: str) -> int:
        state = json.loads(ok(sqlite_url, "show", RAIL, *args, "--json"))
        return int(next(m["percent"] for m in state["milestones"] if m["milestone_id"] == "feasibility-study"))

    assert feasibility("--effective-on", "2026-04-14") == 0
    assert feasibility("--effective-on", "2026-04-15") == 40
    assert feasibility("--as-of", "2099-01-01") == 40
    early = run(sqlite_url, "show", RAIL, "--as-of", "2000-01-01")
    assert early.returncode == 2
    assert early.stderr == f"error: agreement {RAIL} was not yet recorded on 2000-01-01\n"
    both = run(sqlite_url, "show", RAIL, "--as-of", "2026-01-01", "--effective-on", "2026-01-01")
    assert both.returncode == 2
    assert run(sqlite_url, "show", RAIL, "--as-of", "yesterday").returncode == 2
    table = ok(sqlite_url, "history", RAIL, columns=250)
    header = next(line for line in table.splitlines() if "recorded at" in line)
    assert header.index("recorded at") < header.index("effective on")
    progress = next(line for line in table.splitlines() if "MilestoneProgressReported" in line)
    assert "2026-04-15" in progress
