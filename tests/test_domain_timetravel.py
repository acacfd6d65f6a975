"""Bitemporal state, given/when/then on events: what the system knew at a moment, and what was true on a date."""

from __future__ import annotations

from datetime import date

from domain.timetravel import as_effective_on, as_recorded_before
from tests.test_domain_agreement import SIGNED_ON, complete, given, plan, progress, reschedule


def test_a_late_reported_completion_counts_from_the_day_it_happened() -> None:
    history = given(plan(), progress(40), complete(date(2026, 6, 20)))  # progress and completion recorded 2026-11-29
    before = as_effective_on(history, date(2026, 6, 19))
    on_the_day = as_effective_on(history, date(2026, 6, 20))
    assert before is not None
    assert on_the_day is not None
    assert (before.milestones["feasibility-study"].status, before.version) == ("planned", 2)
    assert (on_the_day.milestones["feasibility-study"].status, on_the_day.version) == ("completed", 4)
    assert on_the_day.milestones["feasibility-study"].completed_on == date(2026, 6, 20)


def test_nothing_was_in_effect_before_the_signing() -> None:
    assert as_effective_on(given(plan()), date(2025, 11, 2)) is None
    signed = as_effective_on(given(plan()), SIGNED_ON)
    assert signed is not None
    assert list(signed.milestones) == ["feasibility-study"]


def test_facts_effective_later_do_not_show_earlier() -> None:
    history = given(plan(), reschedule(date(2026, 12, 31)))  # the reschedule is effective 2026-11-29
    earlier = as_effective_on(history, date(2026, 11, 28))
    later = as_effective_on(history, date(2026, 11, 29))
    assert earlier is not None
    assert later is not None
    assert earlier.milestones["feasibility-study"].due_on == date(2026, 6, 30)
    assert later.milestones["feasibility-study"].due_on == date(2026, 12, 31)


def test_as_recorded_shows_only_what_the_system_knew_before_the_cutoff() -> None:
    history = given(plan(), progress(40), progress(60))
    cutoff = history[3].timestamp
    known = [e for e in history if e.timestamp < cutoff]  # versions 1-3, unless the clock did not tick between events
    knew = as_recorded_before(history, cutoff)
    assert knew is not None
    assert knew.version == len(known) >= 2
    assert knew.milestones["feasibility-study"].percent == (40 if len(known) == 3 else 0)
    assert as_recorded_before(history, history[0].timestamp) is None
    everything = as_recorded_before(history, history[3].timestamp.replace(year=2100))
    assert everything is not None
    assert everything.version == 4
