"""The reminder ladder and the retry policy, as pure functions of dates and settings."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date, timedelta

import pytest

from scheduler.channels import (
    Attempted,
    DeliveryFailed,
    ReminderMessage,
    RetryPolicy,
    deliver_with_retry,
    sign,
)
from scheduler.ladder import DEFAULT_LADDER, BadLadder, Ladder, Rung, parse_ladder

DUE = date(2026, 12, 31)


def rung_on(ladder: Ladder, days_from_due: int) -> str | None:
    rung = ladder.current(DUE, DUE + timedelta(days=days_from_due))
    return None if rung is None else rung.name


def test_the_default_ladder_is_14_and_3_days_before_the_day_after_and_escalation_after_30() -> None:
    ladder = parse_ladder(DEFAULT_LADDER)

    assert ladder.rungs == (Rung(-14), Rung(-3), Rung(1), Rung(30, "lead"))
    assert [r.name for r in ladder.rungs] == ["due-in-14d", "due-in-3d", "overdue-1d", "escalation-30d"]
    assert (ladder.lookahead_days, ladder.reaches_overdue) == (14, True)


@pytest.mark.parametrize(("days_from_due", "expected"), [
    (-20, None), (-15, None), (-14, "due-in-14d"), (-4, "due-in-14d"), (-3, "due-in-3d"), (0, "due-in-3d"),
    (1, "overdue-1d"), (29, "overdue-1d"), (30, "escalation-30d"), (400, "escalation-30d"),
])
def test_the_latest_rung_that_has_arrived_is_the_one_due(days_from_due: int, expected: str | None) -> None:
    assert rung_on(parse_ladder(DEFAULT_LADDER), days_from_due) == expected


def test_a_before_due_rung_is_never_sent_once_the_milestone_is_overdue() -> None:
    ladder = parse_ladder("-7")

    assert [rung_on(ladder, d) for d in (-8, -7, 0, 1, 10)] == [None, "due-in-7d", "due-in-7d", None, None]
    assert (ladder.lookahead_days, ladder.reaches_overdue) == (7, False)


def test_a_ladder_can_name_its_audience_and_order_does_not_matter() -> None:
    ladder = parse_ladder(" +60:lead , 0 ,+7:responsible")

    assert [r.name for r in ladder.rungs] == ["due-today", "overdue-7d", "escalation-60d"]
    assert [r.audience for r in ladder.rungs] == ["responsible", "responsible", "lead"]


@pytest.mark.parametrize("spec", ["", "-14,,+1", "soon", "+1:boss", "+1,+1:lead", "1.5"])
def test_a_bad_ladder_is_refused_with_one_line(spec: str) -> None:
    with pytest.raises(BadLadder) as refused:
        parse_ladder(spec)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("reminder ladder:")


MESSAGE = ReminderMessage("ref", "m", "Deliver m", DUE, "overdue-1d", DUE + timedelta(days=1), "a@example.ma")


class FlakyChannel:
    """Fails `failures` times, then delivers; counts the calls."""

    def __init__(self, failures: int, *, permanent: bool = False) -> None:
        self.failures, self.permanent, self.calls = failures, permanent, 0

    def deliver(self, message: ReminderMessage, address: str) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise DeliveryFailed(f"refused #{self.calls}", permanent=self.permanent)
        return "ok"


def test_failures_are_retried_with_doubling_backoff_up_to_the_policy() -> None:
    waits: list[float] = []
    policy = RetryPolicy(attempts=4, backoff_seconds=1.5, max_backoff_seconds=5)

    recovered = deliver_with_retry(FlakyChannel(2), MESSAGE, "a@example.ma", policy, waits.append)
    given_up = deliver_with_retry(FlakyChannel(9), MESSAGE, "a@example.ma", policy, waits.append)

    assert recovered == Attempted("sent", 3, "ok")
    assert given_up == Attempted("failed", 4, "refused #4", exhausted=True)
    assert waits == [1.5, 3.0, 1.5, 3.0, 5.0]


def test_a_permanent_failure_is_not_retried() -> None:
    channel = FlakyChannel(9, permanent=True)

    assert deliver_with_retry(channel, MESSAGE, "x", RetryPolicy(attempts=5), lambda s: None) == Attempted(
        "failed", 1, "refused #1")
    assert channel.calls == 1


def test_the_webhook_signature_is_the_hmac_sha256_of_the_exact_body() -> None:
    body = MESSAGE.payload()

    assert sign(b"secret", body) == "sha256=" + hmac.new(b"secret", body, hashlib.sha256).hexdigest()
    assert sign(b"secret", body) != sign(b"secret", body + b" ")
