"""Figures: GET /api/agreements/{ref} and a POST of progress, each over GET /healthz, on one `commitments serve` process.

The server is the real one (`commitments serve --no-scheduler`, uvicorn on loopback, the
projection runner on); the client is one keep-alive connection in this process, and the
three requests take turns in rounds, a bounded number of each.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from app.users import UserStore
from bench import Figure, Sizes, not_measured
from bench.command_path import service_at, sign_for_bench
from bench.store import milestone_id
from bench.timing import Contender, alternating_rates, per_second, ratio_of_rounds

GET_NAME, POST_NAME = "http_get_agreement_vs_healthz", "http_post_progress_vs_healthz"
BASELINE = "GET /healthz on the same server"
REF = "http-bench"
START_TIMEOUT = 60.0


class ServerFailed(Exception):
    """The server did not start, or answered with an unexpected status."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def running_server(database_url: str, log: Path) -> Iterator[str]:
    """`commitments serve` in a child process; yields its base URL once /healthz answers, stops it afterwards."""
    port = free_port()
    command = [sys.executable, "-c", "import sys; from app.cli import main; main(sys.argv[1:])",
               "--db", database_url, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-scheduler"]
    with log.open("wb") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if server.poll() is not None:
                msg = f"`commitments serve` exited with {server.returncode}: {log.read_text(errors='replace')[-300:]!r}"
                raise ServerFailed(msg)
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            if time.monotonic() > deadline:
                msg = f"`commitments serve` did not answer /healthz within {START_TIMEOUT:.0f} s"
                raise ServerFailed(msg)
            time.sleep(0.2)
        yield base
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def requester(client: httpx.Client, method: str, path: str, expected: int) -> tuple[str, Contender]:
    done = {"n": 0}

    def run(n: int) -> None:
        for _ in range(n):
            done["n"] += 1
            body = {"percent": min(done["n"], 100), "note": "on track"} if method == "POST" else None
            response = client.request(method, path, json=body)
            if response.status_code != expected:
                msg = f"{method} {path} answered {response.status_code}, expected {expected}: {response.text[:200]}"
                raise ServerFailed(msg)

    return path, run


def measure(sizes: Sizes, workdir: Path) -> list[Figure]:
    try:
        import app.api  # noqa: F401  (the HTTP API may not be in the tree yet)
    except ImportError as e:
        reason = f"the HTTP API cannot be imported ({e})"
        return [not_measured(GET_NAME, 0.5, "higher", BASELINE, reason), not_measured(POST_NAME, 0.25, "higher", BASELINE, reason)]
    path = workdir / "http.db"
    service = service_at(path)
    try:
        sign_for_bench(service, REF)
    finally:
        service.close()
    users = UserStore(f"sqlite:///{path}")
    try:
        _, token = users.add("bench", "admin")
    finally:
        users.close()
    per_round = max(sizes.http_requests // sizes.rounds, 1)
    try:
        with running_server(f"sqlite:///{path}", workdir / "serve.log") as base, \
                httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
            contenders = dict([
                requester(client, "GET", "/healthz", 200),
                requester(client, "GET", f"/api/agreements/{REF}", 200),
                requester(client, "POST", f"/api/agreements/{REF}/milestones/{milestone_id(0)}/progress", 201),
            ])
            for run in contenders.values():
                run(5)
            rates = alternating_rates(contenders, per_round, sizes.rounds)
    except ServerFailed as e:
        return [not_measured(GET_NAME, 0.5, "higher", BASELINE, str(e)), not_measured(POST_NAME, 0.25, "higher", BASELINE, str(e))]
    health, get, post = rates.values()
    note = (f"{per_round} requests x {sizes.rounds} rounds each, one keep-alive client: healthz {per_second(health)}, "
            f"GET agreement {per_second(get)}, POST progress {per_second(post)}")
    return [
        Figure(GET_NAME, ratio_of_rounds(get, health), 0.5, "higher", BASELINE, note),
        Figure(POST_NAME, ratio_of_rounds(post, health), 0.25, "higher", BASELINE, note),
    ]
