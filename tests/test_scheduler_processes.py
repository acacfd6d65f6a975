"""Real `commitments scheduler` processes on one SQLite file or one PostgreSQL database, with a real SMTP server on
loopback: sweeps racing each other flag each overdue milestone once and deliver each reminder once; `scheduler run`
sends on start and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app.demo import load_demo
from app.ledger import sqlalchemy_url
from app.service import CommitmentService
from app.settings import Settings
from scheduler.leader import leader_lock
from tests.test_scheduler_support import (
    COMMITMENTS,
    add_contact,
    scheduler_env,
    scheduler_settings,
    sign_with_milestones,
    smtp_server,
)

pytestmark = pytest.mark.slow

AS_OF = "2026-11-29"
EXPECTED_MAIL = [
    ("cgem@example.ma", "[commitments] made-in-morocco: consumer-campaign overdue since 2026-10-31"),
    ("mic@example.ma", "[commitments] rail-test-platform: feasibility-study overdue since 2026-06-30"),
    ("mic@example.ma", "[commitments] rail-test-platform: site-designation overdue since 2026-09-30"),
]


def demo_with_contacts(database_url: str) -> None:
    service = CommitmentService(Settings(database_url=database_url))
    try:
        load_demo(service)
        add_contact(service, "rail-test-platform", "MIC", "email", "mic@example.ma")
        add_contact(service, "rail-test-platform", "ONCF", "email", "oncf@example.ma")
        add_contact(service, "made-in-morocco", "CGEM", "email", "cgem@example.ma")
    finally:
        service.close()


def environment(settings: Settings) -> dict[str, str]:
    return {**os.environ, **scheduler_env(settings)}


def commitments(settings: Settings, *args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([COMMITMENTS, *args], env=environment(settings), cwd=cwd, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(process: subprocess.Popen[str], timeout: float = 60) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err
    return out


def concurrent_sweeps(settings: Settings, count: int, cwd: Path, *extra: str) -> list[dict[str, Any]]:
    processes = [commitments(settings, "scheduler", "sweep", "--as-of", AS_OF, "--json", *extra, cwd=cwd)
                 for _ in range(count)]
    return [json.loads(finish(p)) for p in processes]


def flag_counts(settings: Settings, cwd: Path) -> Counter[str]:
    history = json.loads(finish(commitments(settings, "history", "rail-test-platform", "--json", cwd=cwd)))
    return Counter(e["data"]["milestone_id"] for e in history if e["type"] == "MilestoneFlaggedOverdue")


@pytest.mark.parametrize("processes", [2, 3])
def test_racing_sweeps_flag_once_and_deliver_each_reminder_once(database_url: str, tmp_path: Path,
                                                                processes: int) -> None:
    demo_with_contacts(database_url)
    with smtp_server() as (mailbox, port):
        settings = scheduler_settings(database_url, port)
        racing = concurrent_sweeps(settings, processes, tmp_path)
        after = concurrent_sweeps(settings, 1, tmp_path)
        received = sorted(mailbox.received())

    assert received == EXPECTED_MAIL
    assert flag_counts(settings, tmp_path) == {"feasibility-study": 1, "site-designation": 1}
    assert sum(len(r["flagged"]) for r in racing) == 3
    assert sum(len(r["reminders"]) for r in racing) == 3
    assert sum(r["duplicates"] for r in racing) == 0
    assert (after[0]["flagged"], after[0]["reminders"], after[0]["already_flagged"]) == ([], [], 3)


def test_sweeps_racing_without_the_lock_still_flag_each_milestone_once(database_url: str, tmp_path: Path) -> None:
    demo_with_contacts(database_url)
    with smtp_server() as (mailbox, port):
        settings = scheduler_settings(database_url, port)
        held = leader_lock(sqlalchemy_url(database_url))
        assert held.acquire()
        try:
            racing = concurrent_sweeps(settings, 3, tmp_path, "--lock-wait", "0")
        finally:
            held.close()
        unsent = mailbox.received()
        after = concurrent_sweeps(settings, 1, tmp_path)
        received = sorted(mailbox.received())

    assert unsent == []
    assert [r["delivering"] for r in racing] == [False, False, False]
    assert sum(len(r["flagged"]) for r in racing) == 3
    assert flag_counts(settings, tmp_path) == {"feasibility-study": 1, "site-designation": 1}
    assert (after[0]["flagged"], len(after[0]["reminders"])) == ([], 3)
    assert received == EXPECTED_MAIL


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 45.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.2)


def swept(log: Path) -> Callable[[], bool]:
    return lambda: "swept as of" in log.read_text()


def test_scheduler_run_sends_on_start_and_stops_cleanly_on_sigterm(database_url: str, tmp_path: Path) -> None:
    service = CommitmentService(Settings(database_url=database_url))
    yesterday = service.today() - timedelta(days=1)
    sign_with_milestones(service, "run-test", {"delivery": (yesterday, "PARTNER")})
    add_contact(service, "run-test", "PARTNER", "email", "partner@example.ma")
    service.close()
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    with smtp_server() as (mailbox, port):
        settings = scheduler_settings(database_url, port)
        for log in logs:
            with log.open("w") as stderr:
                process = subprocess.Popen([COMMITMENTS, "scheduler", "run"], env=environment(settings),
                                           cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=stderr)
                try:
                    wait_for(swept(log), f"the start-up sweep in {log}")
                finally:
                    process.send_signal(signal.SIGTERM)
                    code = process.wait(timeout=30)
            assert code == 0, log.read_text()
            assert log.read_text().rstrip().endswith("scheduler stopped")
        received = mailbox.received()

    assert received == [("partner@example.ma", f"[commitments] run-test: delivery overdue since {yesterday}")]
    assert f"swept as of {yesterday + timedelta(days=1)}: 1 flagged, 1 reminder(s) recorded" in logs[0].read_text()
    assert "0 flagged, 0 reminder(s) recorded" in logs[1].read_text()


def test_overdue_on_the_done_date_lists_rail_test_platform(database_url: str, tmp_path: Path) -> None:
    settings = scheduler_settings(database_url)
    if subprocess.run([COMMITMENTS, "overdue", "--help"], capture_output=True, check=False).returncode != 0:
        pytest.skip("the `overdue` command (projections, issue 3) is not in this tree yet")
    demo_with_contacts(database_url)
    finish(commitments(settings, "scheduler", "sweep", "--as-of", AS_OF, cwd=tmp_path))
    rows = json.loads(finish(commitments(settings, "overdue", "--as-of", AS_OF, "--json", cwd=tmp_path)))

    assert {(r["agreement_ref"], r["milestone_id"]) for r in rows} >= {
        ("rail-test-platform", "feasibility-study"), ("rail-test-platform", "site-designation")}
