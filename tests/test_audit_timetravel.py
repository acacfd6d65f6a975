"""Time travel: what the system knew on a date (as recorded) against what was true in the world (as effective)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from app import commands as c
from app.errors import AgreementNotFound
from app.service import CommitmentService
from app.settings import Settings
from domain.agreement import Agreement

ZONE = ZoneInfo("Africa/Casablanca")
REF = "rail-study"


@dataclass
class Clock:
    """The time the service and the event store see: moved by the test, because history takes months to happen."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(datetime(2026, 6, 1, 10, 0, tzinfo=ZONE))
    # recorded_at is the library's timestamp; it must follow the same clock for the dates to mean anything.
    monkeypatch.setattr(Agreement.Event, "create_timestamp", staticmethod(lambda: clock.now))
    return clock


@pytest.fixture
def service(database_url: str, clock: Clock) -> Iterator[CommitmentService]:
    """An agreement recorded on 1 June 2026 with a study due on 30 June, completed on 25 June but recorded on 20 July."""
    service = CommitmentService(Settings(database_url=database_url), clock=clock)
    title = c.Trilingual(ar="دراسة", fr="Étude", en="Study")
    service.sign(c.SignAgreement(
        ref=REF, kind="convention", title=title, signed_on=date(2026, 1, 10), place="Rabat", occasion="test",
        starts_on=date(2026, 1, 10), ends_on=date(2027, 12, 31), effective_on=date(2026, 1, 10),
        parties=[c.PartyInput(short_name="ONCF", role="lead", name=title)]), actor="official")
    service.plan_milestone(REF, c.PlanMilestone(milestone_id="study", title="Feasibility study", due_on=date(2026, 6, 30),
                                                responsible="ONCF"), actor="official")
    clock.now = datetime(2026, 7, 20, 9, 30, tzinfo=ZONE)
    service.complete_milestone(REF, "study", c.CompleteMilestone(completed_on=date(2026, 6, 25), evidence="report"),
                               actor="official")
    try:
        yield service
    finally:
        service.close()


def study(state: dict[str, object]) -> dict[str, object] | None:
    milestones = state["milestones"]
    assert isinstance(milestones, list)
    found = [m for m in milestones if m["milestone_id"] == "study"]
    return {k: found[0][k] for k in ("status", "percent", "completed_on")} if found else None


def test_as_of_gives_what_the_system_knew_before_and_after_the_late_record(service: CommitmentService) -> None:
    before = service.show_as_of(REF, date(2026, 7, 19))
    after = service.show_as_of(REF, date(2026, 7, 20))
    assert (before["version"], study(before)) == (2, {"status": "planned", "percent": 0, "completed_on": None})
    assert (after["version"], study(after)) == (3, {"status": "completed", "percent": 100, "completed_on": "2026-06-25"})
    assert service.show_as_of(REF, date(2026, 6, 1))["version"] == 2
    with pytest.raises(AgreementNotFound, match="was not yet recorded on 2026-05-31"):
        service.show_as_of(REF, date(2026, 5, 31))


def test_effective_on_gives_what_was_true_in_the_world(service: CommitmentService) -> None:
    assert study(service.show_effective_on(REF, date(2026, 6, 25))) == {
        "status": "completed", "percent": 100, "completed_on": "2026-06-25"}
    assert study(service.show_effective_on(REF, date(2026, 6, 24))) == {
        "status": "planned", "percent": 0, "completed_on": None}
    # The study was planned (recorded and effective) on 1 June: in January the agreement had no milestone yet.
    assert study(service.show_effective_on(REF, date(2026, 5, 31))) is None
    with pytest.raises(AgreementNotFound, match="was not yet in effect on 2026-01-09"):
        service.show_effective_on(REF, date(2026, 1, 9))


def test_the_same_day_answers_differently_as_recorded_and_as_effective(service: CommitmentService) -> None:
    day = date(2026, 7, 1)
    assert study(service.show_as_of(REF, day))["status"] == "planned"  # type: ignore[index]
    assert study(service.show_effective_on(REF, day))["status"] == "completed"  # type: ignore[index]


def test_history_shows_recorded_at_beside_effective_on(service: CommitmentService) -> None:
    rows = [(e["version"], e["type"], e["recorded_at"], e["effective_on"], e["data"].get("completed_on"))
            for e in service.history(REF)]
    assert rows == [
        (1, "AgreementSigned", "2026-06-01T10:00:00+01:00", "2026-01-10", None),
        (2, "MilestonePlanned", "2026-06-01T10:00:00+01:00", "2026-06-01", None),
        (3, "MilestoneCompleted", "2026-07-20T09:30:00+01:00", "2026-07-20", "2026-06-25"),
    ]
