"""The agreements list and the overdue query agree: a closed agreement's open milestones are not overdue."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest

from app import commands as c
from app.presenters import agreement_summary
from app.service import CommitmentService
from tests.test_projections_support import service_for

NAME = {"ar": "ا", "fr": "n", "en": "n"}


@pytest.fixture
def service(database_url: str) -> Iterator[CommitmentService]:
    service = service_for(database_url)
    yield service
    service.close()


def _agreement_with_a_late_milestone(service: CommitmentService, ref: str) -> None:
    service.sign(c.SignAgreement(
        ref=ref, kind="convention", title=c.Trilingual(ar="ع", fr="fr", en="en"),
        parties=[c.PartyInput(short_name="MIC", role="lead", name=c.Trilingual(**NAME))],
        signed_on=date(2025, 11, 3), place="Rabat", occasion="test", starts_on=date(2025, 11, 3),
        ends_on=date(2028, 12, 31)), actor="tester")
    service.plan_milestone(ref, c.PlanMilestone(milestone_id="late", title="late", due_on=date(2026, 1, 31),
                                                responsible="MIC"), actor="tester")


def test_a_terminated_agreement_counts_no_overdue_milestones(service: CommitmentService) -> None:
    _agreement_with_a_late_milestone(service, "still-active")
    _agreement_with_a_late_milestone(service, "ended")
    service.terminate("ended", c.CloseAgreement(on=date(2026, 2, 1), reason="ended"), actor="tester")

    rows = {row["ref"]: row for row in service.list_agreements()}
    overdue = service.views.overdue(date(2026, 11, 29))

    assert rows["still-active"]["overdue_count"] == 1
    assert rows["ended"]["overdue_count"] == 0
    assert rows["ended"]["milestones_open"] == 1
    assert [(o.agreement_ref, o.milestone_id) for o in overdue] == [("still-active", "late")]
    today = service.today()
    for ref in ("still-active", "ended"):
        assert rows[ref] == agreement_summary(service.agreement(ref), today)
