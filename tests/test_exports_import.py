"""Import through the service on both databases: identical hashes after a round trip, and never a partial write."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from app import exports
from app.audit import take_digest, verify_store
from app.exports import BadImport, export_jsonl, import_jsonl
from app.service import CommitmentService
from app.settings import Settings
from tests.audit_support import demo_service
from tests.conftest import create_postgres_database, drop_postgres_database


def exported(service: CommitmentService) -> list[dict[str, object]]:
    out = io.StringIO()
    export_jsonl(service, out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def empty_twin(database_url: str, tmp_path: Path) -> str:
    return create_postgres_database() if database_url.startswith("postgresql") else f"sqlite:///{tmp_path / 'twin.db'}"


def test_round_trip_gives_identical_rows_and_digest(database_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "IMPORT_BATCH", 7)  # several batches, still one transaction
    log = tmp_path / "log.jsonl"
    with demo_service(database_url) as source:
        lines = exported(source)
        log.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
        _, digest = take_digest(source)
    twin_url = empty_twin(database_url, tmp_path)
    twin = CommitmentService(Settings(database_url=twin_url))
    try:
        assert import_jsonl(twin, log) == {"events": 32, "agreements": 5}
        assert digest is not None
        assert verify_store(twin, digest).as_dict() == {
            "ok": True, "agreements_checked": 5, "events_checked": 32, "problems": []}
        assert [{k: v for k, v in x.items() if k != "position"} for x in exported(twin)] == \
            [{k: v for k, v in x.items() if k != "position"} for x in lines]
        with pytest.raises(BadImport, match="already holds events"):
            import_jsonl(twin, log)
    finally:
        twin.close()
        if twin_url.startswith("postgresql"):
            drop_postgres_database(twin_url)


def test_a_bad_line_late_in_the_log_rolls_back_the_batches_before_it(database_url: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(exports, "IMPORT_BATCH", 5)
    with demo_service(database_url) as source:
        lines = exported(source)
    original = lines[30]["originator_version"]
    lines[30]["originator_version"] = 7  # a hole in one chain, after six batches were written
    log = tmp_path / "log.jsonl"
    log.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    twin_url = empty_twin(database_url, tmp_path)
    twin = CommitmentService(Settings(database_url=twin_url))
    try:
        with pytest.raises(BadImport, match=r"does not verify, nothing imported: agreement rail-test-platform, version 7, position \d+: "
                                           r"the event's content does not match its hash"):
            import_jsonl(twin, log)
        assert twin.max_position() == 0
        assert verify_store(twin).events_checked == 0
        # The same log, repaired, imports afterwards: nothing was left behind.
        lines[30]["originator_version"] = original
        log.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
        assert import_jsonl(twin, log)["events"] == 32
    finally:
        twin.close()
        if twin_url.startswith("postgresql"):
            drop_postgres_database(twin_url)
