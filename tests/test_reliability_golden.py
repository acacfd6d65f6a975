"""Schema evolution: the committed golden events (today's event versions) load, verify, and survive an upcast."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from app.presenters import history_entry
from app.service import CommitmentService
from domain.agreement import Agreement
from tests import golden_events as golden
from tests.reliability_support import PYTHON, ROOT, chain_problems, settings, stored_rows

# Every event class of the aggregate, but not the library's generic `Created` (AgreementSigned creates an agreement).
EVENT_TYPES = {name for name, value in vars(Agreement).items()
               if isinstance(value, type) and issubclass(value, Agreement.Event)
               and value is not Agreement.Event and name != "Created"}


def _stored(line: dict[str, object]) -> StoredEvent:
    return StoredEvent(originator_id=UUID(str(line["originator_id"])), originator_version=int(str(line["originator_version"])),
                       topic=str(line["topic"]), state=str(line["state"]).encode("utf-8"))


def test_the_golden_file_has_one_of_each_event_type_at_class_version_1() -> None:
    lines = golden.golden_lines()
    names = {str(line["topic"]).rsplit(".", 1)[1] for line in lines}
    assert names == EVENT_TYPES
    assert all("class_version" not in json.loads(str(line["state"])) for line in lines)


def test_golden_events_decode_with_todays_mapper_and_encode_to_the_same_bytes(sqlite_url: str) -> None:
    service = CommitmentService(settings(sqlite_url))
    try:
        mapper = service.ledger.mapper
        for line in golden.golden_lines():
            stored = _stored(line)
            event = mapper.to_domain_event(stored)
            assert type(event).__qualname__ == str(line["topic"]).split(":")[1]
            history_entry(event)  # every field the presenters read is there
            # Same bytes back: a change to an event class without an upcaster shows up here.
            assert mapper.to_stored_event(event).state == stored.state
    finally:
        service.close()


def test_golden_events_load_and_verify_from_a_real_store(database_url: str) -> None:
    service = CommitmentService(settings(database_url))
    try:
        golden.insert_golden(service)
        rows = stored_rows(service)
        assert len(rows) == len(golden.golden_lines())
        assert chain_problems(rows) == []

        life = service.agreement(golden.LIFE_REF)
        assert life.version == 18
        assert life.status == "terminated"
        assert life.allocated("MAD") == Decimal("850000000.50")
        assert life.disbursed == {"MAD": Decimal("1000.25")}
        assert {m: (v.status, v.percent, v.due_on.isoformat()) for m, v in life.milestones.items()} == {
            "m1": ("in_progress", 40, "2026-09-30"), "m2": ("completed", 100, "2026-03-01"),
            "m3": ("cancelled", 0, "2026-04-01")}
        assert life.is_flagged("m1", life.milestones["m1"].due_on)
        assert life.was_reminded("m1", life.milestones["m1"].due_on, "overdue", "pmo@example.org")
        assert service.agreement(golden.DONE_REF).status == "completed"
        assert service.refs() == [golden.LIFE_REF, golden.DONE_REF]
    finally:
        service.close()


def test_after_an_event_class_gains_a_field_old_events_still_load_and_verify(database_url: str) -> None:
    service = CommitmentService(settings(database_url))
    try:
        golden.insert_golden(service)
    finally:
        service.close()
    # A fresh process runs the "next release": MilestoneProgressReported v2 with `confidence` and an upcaster.
    run = subprocess.run([PYTHON, "-m", "tests.golden_events", "evolve", database_url],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stderr
    seen = json.loads(run.stdout)
    assert seen == {
        "old_confidence": ["unstated"],  # the v1 event, upcast on load
        "old_percent": [40],
        "new_confidence": ["high"],  # the v2 event, written by the new release
        "m1_percent": 40,
        "evolved_m1_percent": 55,
        "stored_class_versions": [1, 2],  # old rows untouched, new row marked class_version 2
        "chain_problems": [],  # every hash still verifies (class_version is not hashed)
    }
    # And today's code, which knows only v1, still reads everything else the new release wrote.
    service = CommitmentService(settings(database_url))
    try:
        assert chain_problems(stored_rows(service)) == []
        assert service.agreement(golden.LIFE_REF).milestones["m1"].percent == 40
    finally:
        service.close()
