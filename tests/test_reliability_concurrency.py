"""Concurrent writers on one agreement: real processes, every write stored once, versions contiguous; stale versions refused."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import date
from pathlib import Path

import pytest

from app import commands as c
from app.errors import StaleVersion
from app.service import CommitmentService
from domain.agreement import agreement_id
from tests.reliability_support import (
    PYTHON,
    ROOT,
    chain_problems,
    parse_acks,
    settings,
    sign_sample,
    stored_rows,
)

WRITERS = 4
WRITES_EACH = 30


@pytest.mark.slow
def test_concurrent_writer_processes_store_every_write_once(database_url: str, tmp_path: Path) -> None:
    service = CommitmentService(settings(database_url))
    try:
        sign_sample(service, "shared-agreement")
        go = tmp_path / "go"
        writers = [
            subprocess.Popen(
                [PYTHON, "-m", "tests.reliability_support", "write", database_url, "shared-agreement", "m1",
                 f"w{n}", str(WRITES_EACH)],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                env={**os.environ, "RELIABILITY_GO_FILE": str(go)},
            )
            for n in range(WRITERS)
        ]
        time.sleep(1.0)
        go.touch()
        acks: dict[str, int] = {}
        for writer in writers:
            out, err = writer.communicate(timeout=80)
            assert writer.returncode == 0, err
            assert err == ""
            acks.update(parse_acks(out))

        expected_ids = {f"w{n}-{i}" for n in range(WRITERS) for i in range(WRITES_EACH)}
        assert set(acks) == expected_ids

        rows = [r for r in stored_rows(service) if r.originator_id == agreement_id("shared-agreement")]
        total = 2 + WRITERS * WRITES_EACH
        assert [r.version for r in sorted(rows, key=lambda r: r.version)] == list(range(1, total + 1))
        stored_ids = [r.fields["command_id"] for r in rows if r.version > 2]
        assert sorted(stored_ids) == sorted(expected_ids)  # each write exactly once
        # Each writer was told the version its write really got.
        assert {r.fields["command_id"]: r.version for r in rows if r.version > 2} == acks
        assert chain_problems(rows) == []
        assert service.agreement("shared-agreement").version == total
    finally:
        service.close()


def test_a_stale_expected_version_is_refused_and_writes_nothing(database_url: str) -> None:
    # Two services, two caches: what two server processes have.
    first = CommitmentService(settings(database_url))
    second = CommitmentService(settings(database_url))
    try:
        sign_sample(first, "optimistic")
        seen = first.agreement("optimistic").version
        assert seen == 2
        # Both load (and cache) the agreement at version 2.
        first.report_progress("optimistic", "m1", c.ReportProgress(percent=10, note="a", expected_version=2),
                              actor="a")
        second.agreement("optimistic")
        second.ledger.repository.get(agreement_id("optimistic"))

        # The second client still believes version 2: refused, nothing written.
        with pytest.raises(StaleVersion, match="at version 3, not the expected version 2"):
            second.report_progress("optimistic", "m1",
                                   c.ReportProgress(percent=20, note="b", expected_version=2), actor="b")
        assert len(stored_rows(first)) == 3

        # The expected version is the current one, although the second service's cache lags: accepted.
        result = second.report_progress("optimistic", "m1",
                                        c.ReportProgress(percent=20, note="b", expected_version=3), actor="b")
        assert result.version == 4
        # A version from the future is as stale as one from the past.
        with pytest.raises(StaleVersion):
            first.report_progress("optimistic", "m1",
                                  c.ReportProgress(percent=30, note="c", expected_version=9), actor="a")
        rows = stored_rows(first)
        assert [r.version for r in rows] == [1, 2, 3, 4]
        assert [r.fields.get("note") for r in rows[2:]] == ["a", "b"]
        assert chain_problems(rows) == []
    finally:
        first.close()
        second.close()


def test_a_retried_command_with_its_old_expected_version_is_not_a_conflict(database_url: str) -> None:
    service = CommitmentService(settings(database_url))
    try:
        sign_sample(service, "retried")
        command = c.ReportProgress(percent=40, note="once", expected_version=2, command_id="progress-1",
                                   effective_on=date(2026, 1, 5))
        first = service.report_progress("retried", "m1", command, actor="a")
        again = service.report_progress("retried", "m1", command, actor="a")
        assert first == again
        assert [r.version for r in stored_rows(service)] == [1, 2, 3]
    finally:
        service.close()
