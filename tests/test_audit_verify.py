"""`audit verify` on a real store: an intact log verifies; every kind of tampering with the real table is named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.audit import verify_store
from app.demo import load_demo
from app.service import CommitmentService
from app.settings import Settings
from domain.agreement import agreement_id
from tests.audit_support import Tamperer, demo_service

RAIL = "rail-test-platform"
EDITED = "the event's content does not match its hash: it was edited"


@pytest.fixture
def service(database_url: str) -> Iterator[CommitmentService]:
    with demo_service(database_url) as service:
        yield service


def problems(service: CommitmentService) -> list[tuple[str | None, int | None, str]]:
    report = verify_store(service)
    assert report.ok is (not report.problems)
    return [(p.agreement, p.version, p.problem) for p in report.problems]


def test_an_intact_store_verifies(service: CommitmentService) -> None:
    report = verify_store(service)
    assert report.as_dict() == {"ok": True, "agreements_checked": 5, "events_checked": 32, "problems": []}


def test_one_edited_byte_in_a_middle_event_is_named(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    tamper.edit_byte(RAIL, 3, b'"actor":"demo-loader"', b'"actor":"demo-loaded"')
    report = verify_store(service)
    assert report.ok is False
    assert report.problems[0].as_dict() == {
        "agreement": RAIL, "agreement_id": agreement_id(RAIL).hex, "version": 3,
        "position": tamper.position_of(RAIL, 3), "problem": EDITED}
    assert len(report.problems) == 1


def test_an_edited_latest_event_is_named(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    tamper.edit_byte(RAIL, 5, b'"actor":"demo-loader"', b'"actor":"Demo-loader"')
    assert problems(service) == [(RAIL, 5, EDITED)]


def test_an_edited_first_event_is_named_by_its_ref(service: CommitmentService) -> None:
    Tamperer(service).edit_byte(RAIL, 1, b'"place":"', b'"placE":"')
    assert problems(service) == [(RAIL, 1, EDITED)]


def test_an_edited_hash_breaks_the_event_and_the_link_after_it(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    state = tamper.state(RAIL, 2)
    at = state.index(b'"hash":"') + len(b'"hash":"')
    flipped = b"0" if state[at:at + 1] != b"0" else b"1"
    tamper.set_state(RAIL, 2, state[:at] + flipped + state[at + 1:])
    assert problems(service) == [
        (RAIL, 2, EDITED),
        (RAIL, 3, "prev_hash does not link to version 2: an event was inserted, replaced or reordered"),
    ]


def test_an_edited_topic_is_detected(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    tamper.execute("UPDATE {table} SET topic=:topic WHERE originator_id=:oid AND originator_version=4",
                   topic="domain.agreement:Agreement.MilestoneCancelled", oid=tamper.oid(RAIL))
    assert problems(service) == [(RAIL, 4, EDITED)]


def test_a_deleted_middle_event_is_detected(service: CommitmentService) -> None:
    Tamperer(service).delete(RAIL, 3)
    assert problems(service) == [(RAIL, 4, "version 3 is missing before this event: deleted, or moved later in the log")]


def test_a_deleted_first_event_is_detected(service: CommitmentService) -> None:
    Tamperer(service).delete(RAIL, 1)
    oid = agreement_id(RAIL).hex
    assert problems(service) == [(oid, 2, "version 1 is missing before this event: deleted, or moved later in the log")]


def test_two_events_swapped_in_the_log_are_detected(service: CommitmentService) -> None:
    Tamperer(service).swap_positions(RAIL, 2, 3)
    assert problems(service) == [
        (RAIL, 3, "version 2 is missing before this event: deleted, or moved later in the log"),
        (RAIL, 2, "this event comes after version 3 in the log: events were reordered"),
    ]


def test_two_events_swapped_between_versions_are_detected(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    second, third = tamper.state(RAIL, 2), tamper.state(RAIL, 3)
    tamper.set_state(RAIL, 2, third)
    tamper.set_state(RAIL, 3, second)
    link = "prev_hash does not link to version {}: an event was inserted, replaced or reordered"
    assert problems(service) == [
        (RAIL, 2, EDITED), (RAIL, 2, link.format(1)),
        (RAIL, 3, EDITED), (RAIL, 3, link.format(2)),
        (RAIL, 4, link.format(3)),
    ]


def test_a_copied_event_inserted_by_hand_is_detected(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    tamper.insert(RAIL, 6, tamper.topic(RAIL, 2), tamper.state(RAIL, 2))
    assert problems(service) == [
        (RAIL, 6, EDITED),
        (RAIL, 6, "prev_hash does not link to version 5: an event was inserted, replaced or reordered"),
    ]


def test_a_forged_event_with_a_recomputed_hash_but_no_link_is_detected(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    topic, state = tamper.forge(RAIL, 5, {"percent": 100}, at_version=6, prev_hash="ab" * 32)
    tamper.insert(RAIL, 6, topic, state)
    assert problems(service) == [
        (RAIL, 6, "prev_hash does not link to version 5: an event was inserted, replaced or reordered"),
    ]


def test_a_forged_middle_event_with_a_recomputed_hash_breaks_the_next_link(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    _, state = tamper.forge(RAIL, 3, {"due_on": tamper.service.today()})
    tamper.set_state(RAIL, 3, state)
    assert problems(service) == [
        (RAIL, 4, "prev_hash does not link to version 3: an event was inserted, replaced or reordered"),
    ]


def test_an_unreadable_row_is_a_problem_not_a_crash(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    tamper.set_state(RAIL, 4, b"\xff\xfe not json")
    tamper.set_state("made-in-morocco", 2, b'{"no": "hash"}')
    assert problems(service) == [
        ("made-in-morocco", 2, "the stored state has no hash or prev_hash: it was edited or inserted by hand"),
        (RAIL, 4, "the stored state cannot be read (UnicodeDecodeError): it was edited"),
    ]


def test_an_agreement_moved_to_another_id_is_detected(service: CommitmentService) -> None:
    tamper = Tamperer(service)
    other = agreement_id("someone-else")
    tamper.execute("UPDATE {table} SET originator_id=:new WHERE originator_id=:oid AND originator_version=5",
                   new=other if tamper.position == "notification_id" else other.hex, oid=tamper.oid(RAIL))
    assert problems(service) == [
        (other.hex, 5, EDITED),
        (other.hex, 5, "versions 1 to 4 are missing before this event: deleted, or moved later in the log"),
    ]


def test_an_edited_snapshot_is_detected(database_url: str) -> None:
    service = CommitmentService(Settings(database_url=database_url, snapshot_interval=2))
    try:
        load_demo(service)
        assert verify_store(service).ok
        tamper = Tamperer(service)
        snapshots: Any = service.ledger.snapshots
        table = snapshots.recorder.events_table_name
        rows = tamper.fetch(f"SELECT state FROM {table} WHERE originator_id=:oid AND originator_version=4",
                            oid=tamper.oid(RAIL))
        state = bytes(rows[0][0])
        assert b'"due_on":{"_type_":"date_iso","_data_":"2026-06-30"}' in state
        tamper.execute(f"UPDATE {table} SET state=:state WHERE originator_id=:oid AND originator_version=4",
                       state=state.replace(b'"_data_":"2026-06-30"', b'"_data_":"2027-06-30"', 1), oid=tamper.oid(RAIL))
        assert problems(service) == [
            (RAIL, 4, "the snapshot at this version differs from the state its events give: it was edited")]
    finally:
        service.close()
