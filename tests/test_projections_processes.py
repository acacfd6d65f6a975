"""Real processes: a catch-up SIGKILLed again and again, writers appending while the runner tails, and (on
PostgreSQL) the runner's connections terminated under it. Views end with every event exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal

import psycopg
import pytest
from sqlalchemy import func, select

from app.readmodels import ReadModels
from app.settings import Settings
from projections import tables as t
from tests.test_projections_support import PROJECT, bulk_history, cli, dump_views, popen, service_for

pytestmark = pytest.mark.slow


@pytest.fixture
def views(database_url: str) -> Iterator[ReadModels]:
    views = ReadModels(Settings(database_url=database_url))
    yield views
    views.close()


def activity_positions(views: ReadModels) -> list[int]:
    with views.engine.connect() as conn:
        return list(conn.execute(select(t.activity.c.position).order_by(t.activity.c.position)).scalars())


def funding_totals(views: ReadModels) -> dict[str, Decimal]:
    with views.engine.connect() as conn:
        rows = conn.execute(select(t.agreement_funding.c.allocated, t.agreement_funding.c.disbursed)).all()
        allocations = conn.execute(select(t.funding_allocations.c.amount)).scalars().all()
        disbursements = conn.execute(select(t.funding_disbursements.c.amount)).scalars().all()
    return {
        "allocated": sum((Decimal(r.allocated) for r in rows), Decimal(0)),
        "disbursed": sum((Decimal(r.disbursed) for r in rows), Decimal(0)),
        "allocations": sum((Decimal(a) for a in allocations), Decimal(0)),
        "disbursements": sum((Decimal(d) for d in disbursements), Decimal(0)),
    }


def wait_for_lag_zero(views: ReadModels, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while any(s["lag"] for s in views.status()):
        assert time.monotonic() < deadline, f"views still lag: {views.status()}"
        time.sleep(0.2)


def test_catch_up_and_rebuild_killed_at_random_points(database_url: str, views: ReadModels) -> None:
    writer = service_for(database_url)
    totals = bulk_history(writer, agreements=40, events_each=60)
    last = writer.max_position()
    writer.close()
    assert last > 2400
    rng = random.Random(3)
    env = {"COMMITMENTS_PROJECTION_BATCH_SIZE": "20"}
    started = time.monotonic()
    assert cli(database_url, "projections", "rebuild", env=env).returncode == 0
    full_run = time.monotonic() - started  # kills are timed as fractions of a whole run on this machine
    killed_midway = 0
    for attempt in range(40):
        before = views.status()
        # Resume an interrupted catch-up while the views are behind; once they are whole, start a rebuild.
        command = "catch-up" if min(s["position"] for s in before) < last and attempt % 3 else "rebuild"
        process = popen(database_url, "projections", command, env=env)
        time.sleep(rng.uniform(0.25, 0.8) * full_run)
        running = process.poll() is None
        process.send_signal(signal.SIGKILL)
        process.communicate()
        after = views.status()
        positions = {s["name"]: s["position"] for s in after}
        # Whatever the moment of the kill, each view holds exactly the events up to its position.
        assert activity_positions(views) == list(range(1, positions["activity"] + 1))
        if running and after != before and min(positions.values()) < last:
            killed_midway += 1
        if killed_midway >= 10:
            break
    assert killed_midway >= 10, f"only {killed_midway} of {attempt + 1} kills landed midway"

    finished = cli(database_url, "projections", "catch-up", "--json")
    assert finished.returncode == 0, finished.stderr
    assert all(s["lag"] == 0 for s in views.status())
    after_crashes = dump_views(views.engine)
    assert views.rebuild() == last
    assert dump_views(views.engine) == after_crashes
    assert activity_positions(views) == list(range(1, last + 1))
    assert funding_totals(views) == {"allocated": totals["allocated"], "disbursed": totals["disbursed"],
                                     "allocations": totals["allocated"], "disbursements": totals["disbursed"]}


WRITER = """
import sys
from datetime import date
from app import commands as c
from app.service import CommitmentService
from app.settings import Settings
service = CommitmentService(Settings(database_url=sys.argv[1]))
ref = sys.argv[2]
name = c.Trilingual(ar="ا", fr="n", en="n")
service.sign(c.SignAgreement(ref=ref, kind="convention", title=name,
             parties=[c.PartyInput(short_name="MIC", role="lead", name=name)], signed_on=date(2026, 1, 1),
             place="Rabat", occasion="t", starts_on=date(2026, 1, 1), ends_on=date(2030, 1, 1)), actor="w")
for i in range(int(sys.argv[3])):
    service.plan_milestone(ref, c.PlanMilestone(milestone_id=f"m{i}", title="t", due_on=date(2026, 2, 1),
                                                responsible="MIC"), actor="w")
    service.report_progress(ref, f"m{i}", c.ReportProgress(percent=50, note="n"), actor="w")
service.close()
"""


def test_writers_in_several_processes_while_the_runner_tails(database_url: str, views: ReadModels) -> None:
    runner = popen(database_url, "projections", "run", "--poll", "0.1", env={"COMMITMENTS_PROJECTION_BATCH_SIZE": "7"})
    try:
        writers = [subprocess.Popen([sys.executable, "-c", WRITER, database_url, f"w{n}", "25"], cwd=PROJECT,
                                    env=os.environ.copy(), stderr=subprocess.PIPE, text=True) for n in range(3)]
        for w in writers:
            _, stderr = w.communicate(timeout=120)
            assert w.returncode == 0, stderr
        last = 3 * (1 + 2 * 25)
        assert views.runner.max_position() == last
        wait_for_lag_zero(views, timeout=60)
        assert runner.poll() is None
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.communicate(timeout=30)
    assert runner.returncode == 0
    assert activity_positions(views) == list(range(1, last + 1))
    with views.engine.connect() as conn:
        in_progress = conn.execute(select(func.count()).select_from(t.milestones)
                                   .where(t.milestones.c.status == "in_progress", t.milestones.c.percent == 50)).scalar()
    assert in_progress == 75
    assert len(views.overdue(__import__("datetime").date(2026, 3, 1))) == 75
    tailed = dump_views(views.engine)
    views.rebuild()
    assert dump_views(views.engine) == tailed


def test_runner_recovers_by_itself_when_postgres_drops_its_connections(postgres_url: str) -> None:
    views = ReadModels(Settings(database_url=postgres_url))
    writer = service_for(postgres_url)
    runner = popen(postgres_url, "projections", "run", "--poll", "0.1", env={"COMMITMENTS_PROJECTION_BATCH_SIZE": "3"})
    try:
        bulk_history(writer, agreements=3, events_each=20, seed=1)
        wait_for_lag_zero(views, timeout=60)
        for round_ in range(3):
            # New events, then every other connection to the database terminated while the runner works on them.
            bulk_history(writer, agreements=20, events_each=60, seed=10 + round_)
            time.sleep(0.2)
            assert any(s["lag"] for s in views.status()), "the runner finished before its connections were killed"
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                killed = admin.execute(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = %s",
                    ("commitments-projections",)).fetchone()
            assert killed is not None
            assert killed[0] >= 1
            wait_for_lag_zero(views, timeout=60)
            assert runner.poll() is None, "the runner died instead of recovering"
        last = writer.max_position()
        assert activity_positions(views) == list(range(1, last + 1))
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.communicate(timeout=30)
        writer.close()
        views.close()
    assert runner.returncode == 0


def test_on_postgres_the_runner_wakes_on_notify_not_on_its_poll(postgres_url: str) -> None:
    views = ReadModels(Settings(database_url=postgres_url))
    writer = service_for(postgres_url)
    runner = popen(postgres_url, "projections", "run", "--poll", "120")
    try:
        bulk_history(writer, agreements=1, events_each=5, seed=2)
        wait_for_lag_zero(views, timeout=30)
        time.sleep(1.0)  # the runner is now idle, listening, with two minutes to go before its next poll
        for round_ in range(3):
            bulk_history(writer, agreements=1, events_each=5, seed=20 + round_)
            started = time.monotonic()
            wait_for_lag_zero(views, timeout=30)
            assert time.monotonic() - started < 30
        assert activity_positions(views) == list(range(1, writer.max_position() + 1))
    finally:
        runner.send_signal(signal.SIGTERM)
        runner.communicate(timeout=150)
        writer.close()
        views.close()
