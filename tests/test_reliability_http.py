"""Bad input over HTTP, against a real `commitments serve` process: oversized and malformed bodies, huge pages,
and a stale expected version. Every refusal is a 4xx with a one-line JSON detail, nothing is written, and the
server stays healthy."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.service import CommitmentService
from tests import reliability_support as support

MAX_BODY = 65536


@dataclass(frozen=True)
class Server:
    url: str
    token: str
    database_url: str
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    path = tmp_path_factory.mktemp("http")
    database_url = f"sqlite:///{path / 'http.db'}"
    service = CommitmentService(support.settings(database_url))
    try:
        support.sign_sample(service, "http-target")
    finally:
        service.close()
    token = json.loads(subprocess.run(
        [support.COMMITMENTS, "--db", database_url, "users", "add", "fuzzer", "--role", "admin", "--json"],
        capture_output=True, text=True, check=True, timeout=60).stdout)["token"]
    port = _free_port()
    log = (path / "serve.log").open("wb")
    process = subprocess.Popen(
        [support.COMMITMENTS, "--db", database_url, "serve", "--no-scheduler", "--port", str(port)],
        env={**os.environ, "COMMITMENTS_API_MAX_BODY_BYTES": str(MAX_BODY)}, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (path / "serve.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not start"
            time.sleep(0.2)
        yield Server(url, token, database_url, path / "serve.log")
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        assert "Traceback" not in (path / "serve.log").read_text(errors="replace")


def _rows(server: Server) -> int:
    service = CommitmentService(support.settings(server.database_url))
    try:
        return len(support.stored_rows(service))
    finally:
        service.close()


def _refused(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    assert detail.strip() != ""
    assert "\n" not in detail


PROGRESS = "/api/agreements/http-target/milestones/m1/progress"


def _post(server: Server, content: bytes, *, path: str = PROGRESS, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(server.url + path, content=content, timeout=30, headers={
        "Authorization": f"Bearer {server.token}", "Content-Type": "application/json", **(headers or {})})


@pytest.mark.slow
@pytest.mark.parametrize("size", [MAX_BODY + 1, 10 * 1024 * 1024])
def test_oversized_bodies_are_refused_with_413(server: Server, size: int) -> None:
    before = _rows(server)
    body = json.dumps({"percent": 10, "note": "x" * size}).encode()
    _refused(_post(server, body), 413)
    assert _rows(server) == before


@pytest.mark.slow
def test_an_oversized_chunked_body_without_a_length_is_refused(server: Server) -> None:
    before = _rows(server)

    def chunks() -> Iterator[bytes]:
        yield b'{"percent": 10, "note": "'
        for _ in range(40):
            yield b"x" * 4096
        yield b'"}'

    response = httpx.post(server.url + PROGRESS, content=chunks(), timeout=30, headers={
        "Authorization": f"Bearer {server.token}", "Content-Type": "application/json"})
    _refused(response, 413)
    assert _rows(server) == before


BAD_BODIES: dict[str, bytes] = {
    "not-json": b"{percent: 10",
    "invalid-utf8": b'{"percent": 10, "note": "\xff\xfe"}',
    "deeply-nested": b"[" * 30_000,
    "deeply-nested-object": b'{"a":' * 10_000,
    "array": b"[1, 2, 3]",
    "float-percent": b'{"percent": 10.5, "note": "n"}',
    "string-percent": b'{"percent": "10", "note": "n"}',
    "percent-out-of-range": b'{"percent": 1000, "note": "n"}',
    "unknown-field": b'{"percent": 10, "note": "n", "admin": true}',
    "null-note": b'{"percent": 10, "note": null}',
    "expected-version-zero": b'{"percent": 10, "note": "n", "expected_version": 0}',
    "huge-number": b'{"percent": 1' + b"0" * 5000 + b', "note": "n"}',
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_malformed_bodies_are_refused_with_4xx(server: Server, name: str) -> None:
    before = _rows(server)
    # 400 when the body cannot be parsed at all (bad UTF-8, nesting or numbers beyond the parser's limits), else 422.
    _refused(_post(server, BAD_BODIES[name]), 400, 422)
    assert _rows(server) == before


@pytest.mark.slow
@pytest.mark.parametrize("query", ["limit=101", "limit=100000", "limit=0", "limit=-1", "limit=abc",
                                   "offset=-1", "offset=99999999999", "limit=1&limit=100000", "page_size=5000"])
def test_page_sizes_beyond_the_cap_are_refused(server: Server, query: str) -> None:
    response = httpx.get(f"{server.url}/api/agreements?{query}", timeout=30,
                         headers={"Authorization": f"Bearer {server.token}"})
    _refused(response, 422)


@pytest.mark.slow
def test_the_largest_allowed_page_is_served(server: Server) -> None:
    response = httpx.get(f"{server.url}/api/agreements?limit=100", timeout=30,
                         headers={"Authorization": f"Bearer {server.token}"})
    assert response.status_code == 200
    assert response.json()["limit"] == 100


@pytest.mark.slow
def test_a_stale_expected_version_is_409_and_a_current_one_is_accepted(server: Server) -> None:
    current = httpx.get(f"{server.url}/api/agreements/http-target", timeout=30,
                        headers={"Authorization": f"Bearer {server.token}"}).json()["version"]
    before = _rows(server)
    stale = _post(server, json.dumps({"percent": 10, "note": "n", "expected_version": current - 1}).encode())
    _refused(stale, 409)
    assert "expected version" in stale.json()["detail"]
    assert _rows(server) == before
    accepted = _post(server, json.dumps({"percent": 10, "note": "n", "expected_version": current}).encode())
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["version"] == current + 1
    assert _rows(server) == before + 1
    # The same request again is now stale: another write (this one) got in first.
    _refused(_post(server, json.dumps({"percent": 20, "note": "n", "expected_version": current}).encode()), 409)
    assert httpx.get(f"{server.url}/healthz", timeout=30).status_code == 200


@pytest.mark.slow
def test_serve_reports_the_stores_durability_at_start_up(server: Server) -> None:
    log = server.log.read_text(errors="replace")
    assert "store: sqlite (journal_mode=wal, synchronous=FULL)" in log
    assert "warning" not in log.lower()
