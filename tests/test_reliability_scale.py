"""Many processes on one PostgreSQL: servers, schedulers, concurrent sweeps and a killed projection rebuild.

Everything here is a real process: `commitments serve`, `commitments scheduler run`,
`commitments scheduler sweep`, `commitments projections rebuild`, against one real
PostgreSQL database, with reminders delivered to a real SMTP server (aiosmtpd) on
loopback, and a bounded loopback-only load generator (tests/loadgen.py).
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from email import message_from_bytes
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select

from app import commands as c
from app.ledger import sqlalchemy_url
from app.service import CommitmentService
from domain.agreement import agreement_id
from tests import loadgen
from tests import reliability_support as support

COMMITMENTS = support.COMMITMENTS
SWEEP_DAY = date(2026, 11, 29)
LOAD_WRITES = 72


# A real SMTP server on loopback that keeps what it receives.

@dataclass
class Mailbox:
    messages: list[tuple[str, str]] = field(default_factory=list)  # (recipient, reminder key)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's hook name)
        message = message_from_bytes(envelope.original_content or envelope.content)
        with self.lock:
            for recipient in envelope.rcpt_tos:
                self.messages.append((recipient, str(message.get("X-Commitments-Reminder", ""))))
        return "250 OK"

    def keys(self) -> list[str]:
        with self.lock:
            return [key for _, key in self.messages]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    port = free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield box, port
    finally:
        controller.stop()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Processes.

class Processes:
    """Every process a test starts; all of them are stopped (and if need be killed) at the end."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.tmp_path = tmp_path
        self.env = env
        self.started: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen([COMMITMENTS, *args], cwd=self.tmp_path, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT)
        log.close()
        self.started.append((name, process))
        return process

    def start_python(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (self.tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen([support.PYTHON, *args], cwd=support.ROOT, env=self.env, stdout=log,
                                   stderr=subprocess.STDOUT)
        log.close()
        self.started.append((name, process))
        return process

    def log(self, name: str) -> str:
        return (self.tmp_path / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    def stop_all(self, timeout: float = 30) -> dict[str, int]:
        for _, process in self.started:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        codes = {}
        for name, process in self.started:
            try:
                codes[name] = process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                codes[name] = process.wait(timeout=10)
        return codes


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path, dict(os.environ))
    try:
        yield procs
    finally:
        procs.stop_all(timeout=10)


def wait_healthy(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process.poll() is None, f"{url} exited with {process.returncode}"
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    msg = f"{url} did not become healthy in {timeout}s"
    raise AssertionError(msg)


def wait_until(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


# Reading the results.

def events_of(service: CommitmentService) -> list[support.StoredRow]:
    return support.stored_rows(service)


def flags(rows: list[support.StoredRow]) -> Counter[tuple[str, str, str]]:
    return Counter((r.originator_id.hex, r.fields["milestone_id"], str(r.fields["due_on"]))
                   for r in rows if r.topic.endswith(".MilestoneFlaggedOverdue"))


def reminders_sent(rows: list[support.StoredRow]) -> Counter[str]:
    """Reminders recorded as sent, keyed as the email's X-Commitments-Reminder header is: ref/milestone/due/rung/to."""
    refs = {r.originator_id: r.fields["ref"] for r in rows if r.version == 1}
    return Counter(f"{refs[r.originator_id]}/{r.fields['milestone_id']}/{r.fields['due_on']}/{r.fields['rung']}/"
                   f"{r.fields['recipient']}"
                   for r in rows if r.topic.endswith(".ReminderSent") and r.fields["outcome"] == "sent")


def dump_views(database_url: str) -> dict[str, list[tuple[str, ...]]]:
    """Every row of every view table, sorted, as text: two dumps are equal when the views are."""
    from projections.tables import metadata

    engine = create_engine(sqlalchemy_url(database_url))
    try:
        with engine.connect() as conn:
            return {table.name: sorted(tuple(str(v) for v in row) for row in conn.execute(select(table)))
                    for table in metadata.sorted_tables}
    finally:
        engine.dispose()


def expected_overdue(service: CommitmentService, as_of: date) -> set[tuple[str, str, str]]:
    found = set()
    for ref in service.refs():
        agreement = service.agreement(ref)
        if agreement.status != "active":
            continue
        for milestone in agreement.milestones.values():
            if milestone.is_open and milestone.due_on < as_of:
                found.add((agreement.id.hex, milestone.milestone_id, milestone.due_on.isoformat()))
    return found


def add_email_contacts(service: CommitmentService) -> None:
    for ref in service.refs():
        agreement = service.agreement(ref)
        for party in agreement.party_short_names:
            service.add_contact(ref, c.AddContact(party=party, channel="email",
                                                  address=f"{party.lower()}@{ref}.example.org",
                                                  command_id=f"contact-{ref}-{party}"), actor="test")


# 1. Three servers and two schedulers under load.

_T0 = time.monotonic()


def phase(what: str) -> None:
    print(f"[{time.monotonic() - _T0:6.1f}s] {what}", flush=True)  # shown with -s, for timing


@pytest.mark.slow
def test_three_servers_and_two_schedulers_under_load(postgres_url: str, processes: Processes,
                                                     mailbox: tuple[Mailbox, int]) -> None:
    box, smtp_port = mailbox
    zone = ZoneInfo("Africa/Casablanca")
    today = datetime.now(tz=zone).date()
    refs = [f"scale-{n}" for n in range(4)]
    phase("start")
    service = CommitmentService(support.settings(postgres_url))
    try:
        for ref in refs:
            support.sign_sample(service, ref, milestones={
                "late": today - timedelta(days=10),  # overdue: flagged, reminder "overdue-1d"
                "very-late": today - timedelta(days=40),  # overdue: flagged, escalation to the lead party
                "soon": today + timedelta(days=2),  # not overdue: reminder "due-in-3d"
                "work": today + timedelta(days=200),  # the load reports progress here
            })
        add_email_contacts(service)
        phase("agreements signed")
        token = json.loads(subprocess.run(
            [COMMITMENTS, "--db", postgres_url, "users", "add", "loader", "--role", "admin", "--json"],
            capture_output=True, text=True, check=True, timeout=60).stdout)["token"]

        processes.env.update({
            "COMMITMENTS_DATABASE_URL": postgres_url, "COMMITMENTS_SMTP_HOST": "127.0.0.1",
            "COMMITMENTS_SMTP_PORT": str(smtp_port), "COMMITMENTS_REMINDER_BACKOFF_SECONDS": "0.1",
            "COMMITMENTS_SCHEDULER_STANDBY_POLL_SECONDS": "1", "COMMITMENTS_TIMEZONE": "Africa/Casablanca",
        })
        servers = []
        for n in range(3):
            port = free_port()
            servers.append((f"http://127.0.0.1:{port}",
                            processes.start(f"serve-{n}", "serve", "--no-scheduler", "--port", str(port))))
        # The first scheduler starts alone, so it is the active one; the second then stands by.
        leader = processes.start("scheduler-0", "scheduler", "run", "--interval", "2")
        for url, process in servers:
            wait_healthy(url, process)
        phase("servers healthy")
        wait_until(lambda: sum(flags(events_of(service)).values()) >= 8, 60, "the first scheduler's start-up sweep")
        standby = processes.start("scheduler-1", "scheduler", "run", "--interval", "2")
        phase("first sweep done, standby started")

        writes = []
        for i in range(LOAD_WRITES):
            ref = refs[i % len(refs)]
            if i % 3 == 2:
                writes.append(loadgen.Write(f"fund-{i}", f"/api/agreements/{ref}/funding", {
                    "amount": f"{1000 + i}.50", "fund": "FDII", "purpose": f"load {i}"}))
            else:
                writes.append(loadgen.Write(f"progress-{i}", f"/api/agreements/{ref}/milestones/work/progress", {
                    "percent": i % 101, "note": f"load {i}", "reason": "load test"}))
        # Part-way through the load one server is killed outright: requests in flight there are lost, and
        # their clients retry the same idempotency key on another server.
        victim = servers[2][1]

        def kill_a_server(acks: int) -> None:
            if acks == LOAD_WRITES // 3 and victim.poll() is None:
                victim.send_signal(signal.SIGKILL)

        result = loadgen.run_load([url for url, _ in servers], token, writes, clients=4, on_ack=kill_a_server)
        assert victim.wait(timeout=20) == -signal.SIGKILL
        assert result.retries > 0  # the killed server's share went elsewhere
        phase(f"load done: {result.requests} requests, {result.retries} retries")
        assert result.refused == []
        assert result.gave_up == []
        assert sorted(a.key for a in result.acks) == sorted(w.key for w in writes)

        # The schedulers flag the 8 overdue milestones and send the 12 reminders that are due, once each.
        expected_flags = expected_overdue(service, today)
        assert len(expected_flags) == 8
        wait_until(lambda: sum(flags(events_of(service)).values()) >= 8
                   and sum(reminders_sent(events_of(service)).values()) >= 12 and len(box.keys()) >= 12,
                   60, "the schedulers' flags and reminders")
        phase("flags and reminders seen")
        time.sleep(4.5)  # two more sweep intervals: time for any duplicate to appear
        assert leader.poll() is None, processes.log("scheduler-0")
        assert standby.poll() is None, processes.log("scheduler-1")

        # The active scheduler dies without a chance to clean up. The standby takes over: a milestone that falls
        # overdue now (a new agreement) is flagged and its reminder sent, once.
        leader.send_signal(signal.SIGKILL)
        assert leader.wait(timeout=20) == -signal.SIGKILL
        support.sign_sample(service, "scale-after", milestones={"late": today - timedelta(days=10)})
        service.add_contact("scale-after", c.AddContact(party="MIC", channel="email", address="mic@scale-after.example.org"),
                            actor="test")
        expected_flags = expected_overdue(service, today)
        assert len(expected_flags) == 9
        wait_until(lambda: sum(flags(events_of(service)).values()) >= 9
                   and sum(reminders_sent(events_of(service)).values()) >= 13 and len(box.keys()) >= 13,
                   60, "the standby scheduler to take over")
        phase("standby took over")
        time.sleep(4.5)
        assert standby.poll() is None, processes.log("scheduler-1")
        codes = processes.stop_all()
        # A clean stop: schedulers exit 0; uvicorn finishes shutting down, then re-raises the SIGTERM it caught.
        for name, code in codes.items():
            if name in ("scheduler-0", "serve-2"):
                continue  # killed above
            assert code == 0 or (name.startswith("serve") and code == -signal.SIGTERM
                                 and "Application shutdown complete" in processes.log(name)), processes.log(name)[-2000:]

        for name in ("serve-0", "serve-1", "serve-2", "scheduler-0", "scheduler-1"):  # serve-2 logged it before it died
            assert "store: postgresql (fsync=on, synchronous_commit=on" in processes.log(name)
        rows = events_of(service)
        # No lost events, no duplicates: every acknowledged write is stored once, at the version it was told.
        stored = Counter((r.originator_id, r.fields["command_id"]) for r in rows if r.fields["command_id"])
        assert [k for k, n in stored.items() if n > 1] == []  # command ids are unique within an agreement
        versions = {r.fields["command_id"]: (r.originator_id, r.version) for r in rows if r.fields["command_id"]}
        for ack in result.acks:
            assert versions[loadgen.command_id("loader", ack.key)] == (agreement_id(ack.ref), ack.version)
        # ... and nothing else came in over HTTP: exactly one stored event per write the clients sent.
        assert sorted(k for k in versions if k.startswith("http:")) == sorted(
            loadgen.command_id("loader", w.key) for w in writes)
        assert support.chain_problems(rows) == []
        # Each overdue milestone flagged once; each reminder sent once, both in the log and at the SMTP server.
        assert flags(rows) == Counter(dict.fromkeys(expected_flags, 1))
        sent = reminders_sent(rows)
        assert sum(sent.values()) == 13
        assert set(sent.values()) == {1}
        assert Counter(box.keys()) == sent
        # The views the servers kept equal a fresh rebuild from the log.
        views = service.views
        views.catch_up()
        live = dump_views(postgres_url)
        views.rebuild()
        assert dump_views(postgres_url) == live
    finally:
        service.close()


# 2. Three sweeps at once for the same day.

@pytest.mark.slow
def test_three_simultaneous_sweeps_flag_each_overdue_milestone_once(postgres_url: str, tmp_path: Path,
                                                                    mailbox: tuple[Mailbox, int]) -> None:
    box, smtp_port = mailbox
    demo = subprocess.run([COMMITMENTS, "--db", postgres_url, "demo"], capture_output=True, text=True,
                          timeout=90, check=False)
    assert demo.returncode == 0, demo.stderr
    service = CommitmentService(support.settings(postgres_url))
    try:
        add_email_contacts(service)
        expected = expected_overdue(service, SWEEP_DAY)
        assert len(expected) >= 3  # made-in-morocco and rail-test-platform have overdue milestones that day
        env = {**os.environ, "COMMITMENTS_DATABASE_URL": postgres_url, "COMMITMENTS_SMTP_HOST": "127.0.0.1",
               "COMMITMENTS_SMTP_PORT": str(smtp_port), "COMMITMENTS_REMINDER_BACKOFF_SECONDS": "0.1"}
        go = tmp_path / "go"
        script = (f"while [ ! -e {go} ]; do sleep 0.05; done; "
                  f"exec {COMMITMENTS} scheduler sweep --as-of {SWEEP_DAY.isoformat()} --lock-wait 0 --json")
        sweeps = [subprocess.Popen(["/bin/sh", "-c", script], env=env, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True) for _ in range(3)]
        time.sleep(0.5)
        go.touch()
        reports = []
        for sweep in sweeps:
            out, err = sweep.communicate(timeout=80)
            assert sweep.returncode == 0, err
            reports.append(json.loads(out))
        rows = events_of(service)
        assert flags(rows) == Counter(dict.fromkeys(expected, 1))
        # Together the three sweeps flagged each milestone once (the others found it already flagged).
        assert sum(len(r["flagged"]) for r in reports) == len(expected)
        sent = reminders_sent(rows)
        assert set(sent.values()) == {1}
        assert sum(sent.values()) >= len(expected)  # every overdue milestone's latest rung went out once
        assert Counter(box.keys()) == sent
        assert support.chain_problems(rows) == []
    finally:
        service.close()


# 3. A projection rebuild killed half-way, then run again.

@pytest.mark.slow
def test_a_rebuild_killed_with_sigkill_and_run_again_gives_identical_views(database_url: str) -> None:
    service = CommitmentService(support.settings(database_url))
    try:
        support.sign_sample(service, "rebuilt", milestones={"m1": date(2026, 6, 30), "m2": date(2031, 1, 1)})
        for i in range(400):
            if i % 4 == 0:
                service.allocate_funding("rebuilt", c.AllocateFunding(amount=Decimal(f"{i + 1}.25"), fund="F", purpose="p"),
                                         actor="test")
            else:
                service.report_progress("rebuilt", "m2", c.ReportProgress(percent=i % 101, note=f"n{i}", reason="r"),
                                        actor="test")
        service.views.catch_up()
        before = dump_views(database_url)
    finally:
        service.close()
    assert any(rows for name, rows in before.items() if name != "projection_tracking")

    # One event per transaction, so the rebuild takes long enough to be caught half-way.
    env = {**os.environ, "COMMITMENTS_PROJECTION_BATCH_SIZE": "1"}
    rebuild = subprocess.Popen([COMMITMENTS, "--db", database_url, "projections", "rebuild", "--json"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        top = max_position(before)
        names = {row[0] for row in before["projection_tracking"]}
        # Kill it once it has reset the views and is part-way through the log, at a random point.
        wait_until(lambda: rebuild.poll() is not None or 0 < lowest_position(database_url, names) < top // 2, 60,
                   "the rebuild to get under way")
        time.sleep(random.Random(7).uniform(0, 0.3))
        assert rebuild.poll() is None, "the rebuild finished before it could be killed"
        rebuild.send_signal(signal.SIGKILL)
        rebuild.wait(timeout=20)
    finally:
        if rebuild.poll() is None:
            rebuild.kill()
    assert lowest_position(database_url, names) < top  # the views were left behind
    assert dump_views(database_url) != before

    again = subprocess.run([COMMITMENTS, "--db", database_url, "projections", "rebuild", "--json"],
                           capture_output=True, text=True, timeout=80, check=False)
    assert again.returncode == 0, again.stderr
    assert dump_views(database_url) == before


def max_position(dump: dict[str, list[tuple[str, ...]]]) -> int:
    return max(int(row[-1]) for row in dump["projection_tracking"])


def lowest_position(database_url: str, views: set[str]) -> int:
    """The least position among the views (0 for a view whose position was reset)."""
    positions = {row[0]: int(row[-1]) for row in dump_views(database_url)["projection_tracking"]}
    return min(positions.get(name, 0) for name in views)


# 4. Everything started at the same moment on an empty database.

STARTER = """
import sys, time, pathlib
import app.cli  # the slow part (imports) first, so that every process reaches the database at the same moment
go = pathlib.Path(sys.argv[1])
while not go.exists():
    time.sleep(0.002)
app.cli.main(sys.argv[2:])
"""


@pytest.mark.slow
def test_servers_and_schedulers_started_together_on_an_empty_database_all_come_up(
        postgres_url: str, processes: Processes, tmp_path: Path) -> None:
    go = tmp_path / "go"
    processes.env.update({"COMMITMENTS_DATABASE_URL": postgres_url, "COMMITMENTS_SCHEDULER_STANDBY_POLL_SECONDS": "1"})
    urls = []
    started = []
    for n in range(3):
        port = free_port()
        urls.append(f"http://127.0.0.1:{port}")
        started.append(processes.start_python(f"serve-{n}", "-c", STARTER, str(go), "serve", "--no-scheduler",
                                              "--port", str(port)))
    for n in range(2):
        started.append(processes.start_python(f"scheduler-{n}", "-c", STARTER, str(go), "scheduler", "run",
                                              "--interval", "5"))
    time.sleep(4)  # let every process finish importing and wait at the line
    go.touch()
    for url, process in zip(urls, started, strict=False):
        wait_healthy(url, process)
    wait_until(lambda: all("scheduler active" in processes.log(f"scheduler-{n}")
                           or "standing by" in processes.log(f"scheduler-{n}") for n in range(2)),
               60, "both schedulers to start")
    for name, process in processes.started:
        assert process.poll() is None, processes.log(name)
    logs = [processes.log(f"scheduler-{n}") for n in range(2)]
    assert sum("scheduler active" in log for log in logs) == 1  # exactly one leads
    codes = processes.stop_all()
    for name, code in codes.items():
        assert code == 0 or (name.startswith("serve") and code == -signal.SIGTERM), processes.log(name)[-2000:]
        assert "Traceback" not in processes.log(name)
