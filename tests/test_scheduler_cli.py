"""`commitments scheduler sweep` from the command line: its report, and bad input as one line with exit code 2."""

from __future__ import annotations

import os
import subprocess
from datetime import date

import pytest

from app.service import CommitmentService
from app.settings import Settings
from tests.test_scheduler_support import COMMITMENTS, add_contact, event_types, sign_with_milestones

REF = "cli-test"


@pytest.fixture
def database(sqlite_url: str) -> str:
    service = CommitmentService(Settings(database_url=sqlite_url))
    sign_with_milestones(service, REF, {"study": (date(2026, 6, 30), "PARTNER")})
    add_contact(service, REF, "LEAD", "log", "lead-desk")
    service.close()
    return sqlite_url


def run(database: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMITMENTS, "--db", database, "scheduler", "sweep", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, check=False, timeout=60)


def events(database: str) -> list[str]:
    service = CommitmentService(Settings(database_url=database))
    try:
        return event_types(service, REF)
    finally:
        service.close()


def test_the_sweep_prints_what_it_flagged_and_sent(database: str) -> None:
    done = run(database, "--as-of", "2026-11-29")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "sweep as of 2026-11-29: views caught up by 3 event(s)",  # signed, planned, contact added
        "flagged cli-test/study (due 2026-06-30)",
        "already flagged: 0",
        "sent escalation-30d for cli-test/study to lead-desk via log (1 attempt(s)): logged",
        "already reminded: 0",
    ]
    assert "reminder escalation-30d to lead-desk" in done.stderr
    assert events(database)[-2:] == ["MilestoneFlaggedOverdue", "ReminderSent"]


@pytest.mark.parametrize(("args", "env", "message"), [
    (["--as-of", "2026-13-01"], {}, "error: --as-of: '2026-13-01' is not a date; use YYYY-MM-DD"),
    (["--as-of", "2026-11-29"], {"COMMITMENTS_REMINDER_LADDER": "-14,soon"},
     "error: reminder ladder: 'soon' is not a rung; write days from the due date, e.g. -14,-3,+1,+30:lead"),
    (["--lock-wait", "-1"], {}, "error: Invalid value for '--lock-wait': Input should be greater than or equal to 0"),
])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(database: str, args: list[str], env: dict[str, str],
                                                         message: str) -> None:
    before = events(database)

    done = run(database, *args, **env)

    assert (done.returncode, done.stdout, done.stderr.strip()) == (2, "", message)
    assert events(database) == before
