"""The `users` and `serve` commands as a person runs them: real processes on a real database."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api import create_app
from app.settings import Settings
from app.users import token_hash
from tests.api_world import free_port

COMMITMENTS = str(Path(sys.executable).with_name("commitments"))


def run(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([COMMITMENTS, "--db", database_url, *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_users_add_list_revoke(database_url: str) -> None:
    added = run(database_url, "users", "add", "amina", "--role", "official", "--org", "ONCF", "--json")
    assert added.returncode == 0, added.stderr
    token = json.loads(added.stdout)["token"]
    assert token.startswith("ct_")
    assert len(token) > 40

    listed = run(database_url, "users", "list", "--json")
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["org"], r["active"]) for r in rows] == [("amina", "official", "ONCF", True)]
    assert token not in listed.stdout
    assert token_hash(token) not in listed.stdout

    with TestClient(create_app(Settings(database_url=database_url))) as client:
        assert client.get("/api/agreements", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        revoked = run(database_url, "users", "revoke", "amina")
        assert (revoked.returncode, revoked.stdout.strip()) == (0, "revoked 1 token(s) of amina")
        assert client.get("/api/agreements", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert json.loads(run(database_url, "users", "list", "--json").stdout)[0]["active"] is False


@pytest.mark.parametrize(("args", "message"), [
    (("users", "add", "x", "--role", "boss"), "error: role must be one of admin, official, auditor, got 'boss'"),
    (("users", "add", "x", "--role", "official"),
     "error: an official needs --org SHORT_NAME (the organisation they write for)"),
    (("users", "add", "x y", "--role", "admin"),
     "error: a user name is 1-80 letters, digits, '_', '.', '@' or '-', got 'x y'"),
    (("users", "revoke", "nobody"), "error: no active user named 'nobody'"),
])
def test_users_bad_input_is_one_line_and_exit_2(sqlite_url: str, args: tuple[str, ...], message: str) -> None:
    done = run(sqlite_url, *args)
    assert (done.returncode, done.stderr.strip(), done.stdout) == (2, message, "")


def test_a_user_cannot_hold_two_active_tokens(sqlite_url: str) -> None:
    assert run(sqlite_url, "users", "add", "ali", "--role", "auditor").returncode == 0
    again = run(sqlite_url, "users", "add", "ali", "--role", "auditor")
    assert (again.returncode, again.stderr.strip()) == (2, "error: user ali already has an active token; revoke it first")


@pytest.mark.slow
def test_serve_runs_everything_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'commitments.db'}"
    port = free_port()
    outputs = []
    for _ in range(2):  # the second start finds the demo and the admin already there
        process = subprocess.Popen([COMMITMENTS, "--db", database_url, "serve", "--demo", "--port", str(port)],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            health = _wait_healthy(f"http://127.0.0.1:{port}", process)
        finally:
            process.send_signal(signal.SIGTERM)
            output, _ = process.communicate(timeout=30)
        outputs.append(output)
        assert process.returncode == 0, output
        assert "stopped (SIGTERM)" in output
        assert "Traceback" not in output
        assert (health["database"], health["projection_lag"], health["scheduler"]["running"]) == ("ok", 0, True)
        assert {p["name"] for p in health["projections"]} >= {"agreements", "milestones"}
        assert isinstance(health["position"], int)
        assert health["position"] >= 35
    assert "created user demo-admin" in outputs[0]
    assert "created user demo-admin" not in outputs[1]
    users = json.loads(run(database_url, "users", "list", "--json").stdout)
    assert [(u["name"], u["role"]) for u in users] == [("demo-admin", "admin")]


def _wait_healthy(base_url: str, process: subprocess.Popen[str]) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "serve exited early"
        try:
            response = httpx.get(f"{base_url}/healthz", timeout=2)
            body: dict[str, Any] = response.json()
            scheduler = body["scheduler"]
            if response.status_code == 200 and body["projection_lag"] == 0 and isinstance(scheduler, dict) \
                    and scheduler["last_sweep"] is not None:
                return body
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    pytest.fail("serve did not become healthy within 60 s")
