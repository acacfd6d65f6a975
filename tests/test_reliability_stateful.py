"""Bad input everywhere, part 1: a Hypothesis state machine drives the service with random, often invalid, commands.

A small model predicts, for every command, whether it must be accepted or refused (and
with which error). After every step the stored agreement matches the model and
disbursed never exceeds allocated; after every run the versions are contiguous, every
hash recomputes from the stored row, the chain links, and replaying the stored events
gives exactly the live (cached) state.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from pydantic import ValidationError

from app import commands as c
from app.errors import StaleVersion
from app.presenters import agreement_state
from app.service import CommitmentService
from domain import errors as de
from domain.agreement import Agreement, agreement_id
from tests import reliability_support as support

MILESTONE_IDS = ("m1", "m2", "m3")
UNKNOWN_MILESTONE = "no-such-milestone"
EFFECTIVE = date(2026, 3, 1)
MAX_AMOUNT = Decimal("1" + "0" * 17)

valid_amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10_000_000), places=2,
                            allow_nan=False, allow_infinity=False)
bad_amounts: st.SearchStrategy[Any] = st.sampled_from(
    [Decimal(0), Decimal(-5), Decimal("0.001"), Decimal("NaN"), Decimal("Infinity"), Decimal("1e25"),
     "abc", "", None, "12,50", "1e3x"])
amounts = st.one_of(valid_amounts, valid_amounts, bad_amounts)
currencies = st.sampled_from(["MAD", "MAD", "EUR", "mad", "EURO"])
milestones = st.sampled_from([*MILESTONE_IDS, "m1", "m2", UNKNOWN_MILESTONE])
percents = st.one_of(st.integers(min_value=0, max_value=100), st.sampled_from([-1, 101, 1000]))
notes = st.one_of(st.text(min_size=1, max_size=30).filter(lambda s: s.strip() != ""), st.sampled_from(["", "   "]))
run_counter = itertools.count()


def valid_amount(value: Any) -> bool:
    if isinstance(value, float) or not isinstance(value, Decimal) or not value.is_finite():
        return False
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    return value > 0 and exponent >= -2 and value < MAX_AMOUNT


class ServiceMachine(RuleBasedStateMachine):
    """Each run works on a new agreement in the shared database; the model says what must happen."""

    service: CommitmentService

    def __init__(self) -> None:
        super().__init__()
        self.ref = f"fuzz-{next(run_counter)}-{id(self) % 10_000}"
        self.version = 0
        self.status = "active"
        self.allocations: dict[int, tuple[Decimal, str]] = {}
        self.disbursed: dict[str, Decimal] = {}
        self.milestones: dict[str, dict[str, Any]] = {}
        self.done: list[tuple[Callable[[], Any], int]] = []
        self.commands = itertools.count()

    # The mechanics: run a command and hold it to the model's prediction.

    def _attempt(self, call: Callable[[], Any], expected: type[Exception] | None) -> bool:
        before = self.version
        if expected is not None:
            with pytest.raises(expected) as refused:
                call()
            assert str(refused.value).strip() != ""
            assert self.service.agreement(self.ref).version == before  # nothing written
            return False
        result = call()
        assert result.version == before + 1
        self.version = result.version
        self.done.append((call, result.version))
        return True

    def _meta(self) -> dict[str, Any]:
        return {"effective_on": EFFECTIVE, "command_id": f"{self.ref}-{next(self.commands)}"}

    def _allocated(self, currency: str) -> Decimal:
        return sum((a for a, cur in self.allocations.values() if cur == currency), Decimal(0))

    # Rules.

    @initialize()
    def sign(self) -> None:
        support.sign_sample(self.service, self.ref, milestones={"m1": EFFECTIVE})
        self.version = 2
        self.milestones["m1"] = {"status": "planned", "percent": 0, "due_on": EFFECTIVE}

    @rule(amount=amounts, currency=currencies, validated=st.booleans())
    def allocate(self, amount: Any, currency: str, validated: bool) -> None:
        meta = self._meta()
        values = {"amount": amount, "currency": currency, "fund": "FDII", "purpose": "fuzz", **meta}
        expected: type[Exception] | None = None
        if validated:
            if not valid_amount(amount) or currency not in ("MAD", "EUR"):
                expected = ValidationError
            elif self.status != "active":
                expected = de.AgreementClosed
        # Unvalidated (the input model bypassed): the aggregate's own checks must still hold.
        elif self.status != "active":
            expected = de.AgreementClosed
        elif not isinstance(amount, Decimal) or not amount.is_finite() or amount <= 0 or currency not in ("MAD", "EUR"):
            expected = de.InvalidValue

        def call() -> Any:
            model = c.AllocateFunding.model_validate(values) if validated else c.AllocateFunding.model_construct(**values)
            return self.service.allocate_funding(self.ref, model, actor="fuzz")

        if self._attempt(call, expected):
            self.allocations[self.version] = (Decimal(amount), currency)

    @rule(amount=amounts, currency=currencies)
    def disburse(self, amount: Any, currency: str) -> None:
        meta = self._meta()
        values = {"amount": amount, "currency": currency, "value_date": EFFECTIVE, "tranche": "T", **meta}
        expected: type[Exception] | None = None
        if not valid_amount(amount) or currency not in ("MAD", "EUR"):
            expected = ValidationError
        elif self.status != "active":
            expected = de.AgreementClosed
        elif self.disbursed.get(currency, Decimal(0)) + Decimal(amount) > self._allocated(currency):
            expected = de.OverDisbursement

        def call() -> Any:
            return self.service.disburse(self.ref, c.DisburseFunding.model_validate(values), actor="fuzz")

        if self._attempt(call, expected):
            self.disbursed[currency] = self.disbursed.get(currency, Decimal(0)) + Decimal(amount)

    @rule(fraction=st.sampled_from([Decimal("0.1"), Decimal("0.5"), Decimal(1), Decimal(2)]))
    def disburse_near_the_limit(self, fraction: Decimal) -> None:
        remaining = self._allocated("MAD") - self.disbursed.get("MAD", Decimal(0))
        amount = (remaining * fraction).quantize(Decimal("0.01")) if remaining > 0 else Decimal("0.01")
        self.disburse(max(amount, Decimal("0.01")), "MAD")

    @rule(pick=st.integers(min_value=0, max_value=5), amount=valid_amounts)
    def correct_allocation(self, pick: int, amount: Decimal) -> None:
        meta = self._meta()
        versions = sorted(self.allocations)
        version = versions[pick] if pick < len(versions) else 9999
        expected: type[Exception] | None = None
        if version not in self.allocations:
            expected = de.UnknownVersion
        else:
            old, currency = self.allocations[version]
            if self._allocated(currency) - old + amount < self.disbursed.get(currency, Decimal(0)):
                expected = de.OverDisbursement

        def call() -> Any:
            command = c.CorrectAllocation(corrects_version=version, amount=amount, reason="fuzz", **meta)
            return self.service.correct_allocation(self.ref, command, actor="fuzz")

        if self._attempt(call, expected):
            self.allocations[version] = (amount, self.allocations[version][1])

    @rule(milestone_id=milestones, responsible=st.sampled_from(["MIC", "CGEM", "NOBODY"]),
          days=st.integers(min_value=-400, max_value=400))
    def plan(self, milestone_id: str, responsible: str, days: int) -> None:
        meta = self._meta()
        expected: type[Exception] | None = None
        if self.status != "active":
            expected = de.AgreementClosed
        elif milestone_id in self.milestones:
            expected = de.DuplicateMilestone
        elif responsible == "NOBODY":
            expected = de.UnknownParty
        due_on = EFFECTIVE + timedelta(days=days)

        def call() -> Any:
            command = c.PlanMilestone(milestone_id=milestone_id, title="fuzz", due_on=due_on,
                                      responsible=responsible, **meta)
            return self.service.plan_milestone(self.ref, command, actor="fuzz")

        if self._attempt(call, expected):
            self.milestones[milestone_id] = {"status": "planned", "percent": 0, "due_on": due_on}

    def _open_milestone_error(self, milestone_id: str) -> type[Exception] | None:
        if milestone_id not in self.milestones:
            return de.UnknownMilestone
        if self.milestones[milestone_id]["status"] not in ("planned", "in_progress"):
            return de.MilestoneClosed
        return None

    @rule(milestone_id=milestones, percent=percents, note=notes, with_reason=st.booleans())
    def report(self, milestone_id: str, percent: int, note: str, with_reason: bool) -> None:
        meta = self._meta()
        expected: type[Exception] | None = None
        if not 0 <= percent <= 100 or note.strip() == "":
            expected = ValidationError
        else:
            expected = self._open_milestone_error(milestone_id)
            if expected is None and percent < self.milestones[milestone_id]["percent"] and not with_reason:
                expected = de.RuleViolation

        def call() -> Any:
            command = c.ReportProgress.model_validate({
                "percent": percent, "note": note, "reason": "revised" if with_reason else None, **meta})
            return self.service.report_progress(self.ref, milestone_id, command, actor="fuzz")

        if self._attempt(call, expected):
            self.milestones[milestone_id].update(status="in_progress", percent=percent)

    @rule(milestone_id=milestones, days_after=st.integers(min_value=-3, max_value=3))
    def complete_milestone(self, milestone_id: str, days_after: int) -> None:
        meta = self._meta()
        expected = self._open_milestone_error(milestone_id)
        if expected is None and days_after > 0:
            expected = de.InvalidValue  # completed after the date it is recorded as effective

        def call() -> Any:
            command = c.CompleteMilestone(completed_on=EFFECTIVE + timedelta(days=days_after), evidence="pv",
                                          **meta)
            return self.service.complete_milestone(self.ref, milestone_id, command, actor="fuzz")

        if self._attempt(call, expected):
            self.milestones[milestone_id].update(status="completed", percent=100)

    @rule(milestone_id=milestones, days=st.integers(min_value=-30, max_value=30))
    def reschedule(self, milestone_id: str, days: int) -> None:
        meta = self._meta()
        expected = self._open_milestone_error(milestone_id)
        due_on = EFFECTIVE + timedelta(days=days)
        if expected is None and due_on == self.milestones[milestone_id]["due_on"]:
            expected = de.RuleViolation

        def call() -> Any:
            command = c.RescheduleMilestone(due_on=due_on, reason="fuzz", **meta)
            return self.service.reschedule_milestone(self.ref, milestone_id, command, actor="fuzz")

        if self._attempt(call, expected):
            self.milestones[milestone_id]["due_on"] = due_on

    @rule(milestone_id=milestones)
    def cancel(self, milestone_id: str) -> None:
        meta = self._meta()
        expected = self._open_milestone_error(milestone_id)

        def call() -> Any:
            return self.service.cancel_milestone(self.ref, milestone_id, c.CancelMilestone(reason="fuzz", **meta),
                                                 actor="fuzz")

        if self._attempt(call, expected):
            self.milestones[milestone_id]["status"] = "cancelled"

    @rule(how=st.sampled_from(["terminate", "complete"]))
    def close(self, how: str) -> None:
        meta = self._meta()
        expected = None if self.status == "active" else de.AgreementClosed

        def call() -> Any:
            command = c.CloseAgreement(on=EFFECTIVE, reason="fuzz", **meta)
            method = self.service.terminate if how == "terminate" else self.service.complete
            return method(self.ref, command, actor="fuzz")

        if self._attempt(call, expected):
            self.status = "terminated" if how == "terminate" else "completed"

    @rule(pick=st.integers(min_value=0, max_value=50))
    def repeat_a_command(self, pick: int) -> None:
        """A client retries a command that was applied: same command id, nothing new is written."""
        if not self.done:
            return
        call, version = self.done[pick % len(self.done)]
        assert call().version == version
        assert self.service.agreement(self.ref).version == self.version

    @rule(offset=st.sampled_from([-2, -1, 1, 5]))
    def stale_expected_version(self, offset: int) -> None:
        meta = self._meta()
        expected_version = self.version + offset
        if expected_version < 1:
            return
        address = f"fuzz-{next(self.commands)}"

        def call() -> Any:
            command = c.AddContact(party="MIC", channel="log", address=address, expected_version=expected_version,
                                   **meta)
            return self.service.add_contact(self.ref, command, actor="fuzz")

        self._attempt(call, StaleVersion)

    @rule(party=st.sampled_from(["MIC", "NOBODY"]))
    def add_contact_at_the_current_version(self, party: str) -> None:
        meta = self._meta()
        address, expected_version = f"fuzz-{next(self.commands)}", self.version

        def call() -> Any:
            command = c.AddContact(party=party, channel="log", address=address, expected_version=expected_version,
                                   **meta)
            return self.service.add_contact(self.ref, command, actor="fuzz")

        self._attempt(call, de.UnknownParty if party == "NOBODY" else None)

    # Invariants.

    @invariant()
    def stored_state_matches_the_model(self) -> None:
        if self.version == 0:
            return
        agreement = self.service.agreement(self.ref)
        assert agreement.version == self.version
        assert agreement.status == self.status
        for currency in ("MAD", "EUR"):
            assert agreement.disbursed.get(currency, Decimal(0)) <= agreement.allocated(currency)
            assert agreement.allocated(currency) == self._allocated(currency)
            assert agreement.disbursed.get(currency, Decimal(0)) == self.disbursed.get(currency, Decimal(0))
        assert {m: (v.status, v.percent, v.due_on) for m, v in agreement.milestones.items()} == {
            m: (v["status"], v["percent"], v["due_on"]) for m, v in self.milestones.items()}

    def teardown(self) -> None:
        if self.version == 0:
            return
        rows = support.stored_rows(self.service, agreement_id(self.ref))
        assert [r.version for r in rows] == list(range(1, self.version + 1))
        assert support.chain_problems(rows) == []
        # Every command id is stored at most once.
        ids = [r.fields["command_id"] for r in rows]
        assert len(ids) == len(set(ids))
        # Replaying the stored events gives the live state the service holds in its cache.
        replayed: Agreement | None = None
        for event in self.service.ledger.events.get(agreement_id(self.ref)):
            assert isinstance(event, Agreement.Event)
            replayed = event.mutate(replayed)
        assert replayed is not None
        live = self.service._load(self.ref)  # the cached aggregate that commands run on
        assert agreement_state(replayed) == agreement_state(live)
        assert replayed.head_hash == rows[-1].fields["hash"]


@pytest.mark.slow
def test_random_command_sequences_keep_the_invariants(database_url: str) -> None:
    service = CommitmentService(support.settings(database_url, snapshot_interval=7))
    try:
        ServiceMachine.service = service
        run_state_machine_as_test(ServiceMachine, settings=settings(
            max_examples=60, stateful_step_count=30, deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]))
    finally:
        service.close()
