"""Properties of the Agreement aggregate under random command sequences, stored the way the library stores them."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from eventsourcing.persistence import Mapper
from hypothesis import given, settings
from hypothesis import strategies as st

from app.ledger import AgreementLedger
from domain.agreement import Agreement
from domain.chain import GENESIS_HASH, event_hash
from domain.errors import DomainError
from domain.values import Recorded
from tests.test_domain_agreement import replay, sign

Op = tuple[str, dict[str, Any]]

MILESTONES = ("m1", "m2", "m3")
CURRENCIES = ("MAD", "EUR")
amounts = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(5000), places=2)
dates = st.dates(min_value=date(2025, 11, 3), max_value=date(2027, 12, 31))
milestone_ids = st.sampled_from(MILESTONES)


def op(name: str, **params: st.SearchStrategy[Any]) -> st.SearchStrategy[Op]:
    return st.tuples(st.just(name), st.fixed_dictionaries(params))


operations: st.SearchStrategy[Op] = st.one_of(
    op("allocate", amount=amounts, currency=st.sampled_from(CURRENCIES)),
    op("disburse", amount=amounts, currency=st.sampled_from(CURRENCIES)),
    op("disburse", amount=amounts, currency=st.sampled_from(CURRENCIES)),
    op("correct", index=st.integers(0, 3), amount=amounts),
    op("plan", milestone_id=milestone_ids, due_on=dates),
    op("progress", milestone_id=milestone_ids, percent=st.integers(0, 100), reason=st.none() | st.just("re-scoped")),
    op("complete", milestone_id=milestone_ids, completed_on=dates, delay=st.integers(0, 30)),
    op("reschedule", milestone_id=milestone_ids, due_on=dates),
    op("cancel", milestone_id=milestone_ids),
    op("flag", milestone_id=milestone_ids, as_of=dates),
    op("remind", milestone_id=milestone_ids, rung=st.sampled_from(("first", "second")),
       outcome=st.sampled_from(("sent", "failed"))),
    op("extend", ends_on=st.dates(min_value=date(2028, 1, 1), max_value=date(2032, 12, 31))),
    op("contact", party=st.sampled_from(("MIC", "ONCF", "CGEM")), channel=st.sampled_from(("email", "sms"))),
)


def recorded(on: date = date(2026, 11, 29)) -> Recorded:
    return Recorded(actor="property", effective_on=on, source=None, command_id=None)


def allocation_version(a: Agreement, index: int) -> int:
    return a.allocations[index % len(a.allocations)].version if a.allocations else 1


COMMANDS: dict[str, Callable[..., None]] = {
    "allocate": lambda a, amount, currency: a.allocate_funding(
        amount=amount, currency=currency, fund="fund", fiscal_years=[2026], purpose="p", recorded=recorded()),
    "disburse": lambda a, amount, currency: a.disburse(
        amount=amount, currency=currency, value_date=date(2026, 5, 1), tranche="t", recorded=recorded()),
    "correct": lambda a, index, amount: a.correct_allocation(
        corrects_version=allocation_version(a, index), amount=amount, reason="r", recorded=recorded()),
    "plan": lambda a, milestone_id, due_on: a.plan_milestone(
        milestone_id=milestone_id, title=f"Milestone {milestone_id}", due_on=due_on, responsible="ONCF", kind="delivery",
        recorded=recorded()),
    "progress": lambda a, milestone_id, percent, reason: a.report_progress(
        milestone_id=milestone_id, percent=percent, note="n", reason=reason, recorded=recorded()),
    "complete": lambda a, milestone_id, completed_on, delay: a.complete_milestone(
        milestone_id=milestone_id, completed_on=completed_on, evidence="e",
        recorded=recorded(completed_on + timedelta(days=delay))),
    "reschedule": lambda a, milestone_id, due_on: a.reschedule_milestone(
        milestone_id=milestone_id, due_on=due_on, reason="r", recorded=recorded()),
    "cancel": lambda a, milestone_id: a.cancel_milestone(milestone_id=milestone_id, reason="r", recorded=recorded()),
    "flag": lambda a, milestone_id, as_of: a.flag_overdue(milestone_id=milestone_id, as_of=as_of, recorded=recorded(as_of)),
    "remind": lambda a, milestone_id, rung, outcome: a.record_reminder(
        milestone_id=milestone_id, due_on=a.milestone(milestone_id).due_on, rung=rung, channel="email",
        recipient="pmo@oncf.ma", outcome=outcome, attempts=1, detail="d", recorded=recorded()),
    "extend": lambda a, ends_on: a.extend(ends_on=ends_on, instrument="annex", reason="r", recorded=recorded()),
    "contact": lambda a, party, channel: a.add_contact(party=party, channel=channel, address="x@y.ma", recorded=recorded()),
    "terminate": lambda a: a.terminate(on=date(2026, 10, 1), reason="r", recorded=recorded()),
}


def run(ops: list[Op]) -> tuple[Agreement, list[Any]]:
    """Apply the commands to one live agreement; refused ones record nothing. Money never goes out unallocated."""
    live = sign()
    history: list[Any] = list(live.collect_events())
    for name, params in ops:
        with contextlib.suppress(DomainError):
            COMMANDS[name](live, **params)
        history.extend(live.collect_events())
        for currency, disbursed in live.disbursed.items():
            assert disbursed <= live.allocated(currency)
    return live, history


@pytest.fixture(scope="module")
def mapper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mapper[Any]]:
    """The application's own mapper and transcoder (the one that writes rows), on a throwaway SQLite file."""
    ledger = AgreementLedger(f"sqlite:///{tmp_path_factory.mktemp('props') / 'events.db'}",
                             snapshot_interval=100, cache_size=10, lock_timeout=5)
    yield ledger.mapper
    ledger.close()


def stored_and_loaded(mapper: Mapper[Any], events: list[Any]) -> list[Any]:
    """Each event encoded to the stored form and decoded back, as a reload from the database does."""
    return [mapper.to_domain_event(mapper.to_stored_event(e)) for e in events]


def sequences(middle: st.SearchStrategy[Op], max_size: int) -> st.SearchStrategy[list[Op]]:
    """Plans and funding first (so later commands have something to act on), then anything, maybe ending terminated."""
    setup = st.lists(st.one_of(op("plan", milestone_id=milestone_ids, due_on=dates),
                               op("allocate", amount=amounts, currency=st.sampled_from(CURRENCIES))), max_size=6)
    ending = st.lists(st.one_of(op("terminate"), operations), max_size=1)
    return st.tuples(setup, st.lists(middle, max_size=max_size), ending).map(lambda parts: [*parts[0], *parts[1], *parts[2]])


command_sequences = sequences(operations, 40)


@settings(max_examples=150, deadline=None)
@given(ops=command_sequences)
def test_replaying_the_stored_events_gives_the_live_state(mapper: Mapper[Any], ops: list[Op]) -> None:
    live, history = run(ops)
    assert replay(stored_and_loaded(mapper, history)) == live
    assert replay(history).version == live.version == len(history)


@settings(max_examples=150, deadline=None)
@given(ops=command_sequences, data=st.data())
def test_a_stored_snapshot_plus_the_later_events_gives_the_full_replay(mapper: Mapper[Any], ops: list[Op],
                                                                       data: st.DataObject) -> None:
    live, history = run(ops)
    events = stored_and_loaded(mapper, history)
    cut = data.draw(st.integers(1, len(events)), label="snapshot at version")
    snapshot: Any = mapper.to_domain_event(mapper.to_stored_event(Agreement.Snapshot.take(replay(events[:cut]))))
    assert snapshot.originator_version == cut
    restored = snapshot.mutate(None)
    for event in events[cut:]:
        restored = event.mutate(restored)
    assert restored == replay(events) == live


@settings(max_examples=150, deadline=None)
@given(ops=sequences(st.one_of(operations, op("disburse", amount=amounts, currency=st.just("MAD"))), 60))
def test_disbursed_never_exceeds_allocated(ops: list[Op]) -> None:
    live, history = run(ops)
    for currency in CURRENCIES:
        assert live.disbursed.get(currency, Decimal(0)) <= live.allocated(currency)
        disbursed = sum((e.amount for e in history if isinstance(e, Agreement.FundingDisbursed) and e.currency == currency),
                        Decimal(0))
        assert disbursed == live.disbursed.get(currency, Decimal(0))


@settings(max_examples=150, deadline=None)
@given(ops=command_sequences)
def test_the_hash_chain_links_every_stored_event(mapper: Mapper[Any], ops: list[Op]) -> None:
    _, history = run(ops)
    previous = GENESIS_HASH
    for event in history:
        row = mapper.to_stored_event(event)
        fields = mapper.transcoder.decode(row.state)
        assert fields["prev_hash"] == previous
        assert event_hash(row.topic, UUID(str(row.originator_id)), row.originator_version, fields) == fields["hash"]
        assert "timestamp" in fields
        previous = fields["hash"]


def test_every_amount_in_the_stored_events_is_a_decimal(mapper: Mapper[Any]) -> None:
    _, history = run([("allocate", {"amount": Decimal("900000000.50"), "currency": "MAD"}),
                      ("disburse", {"amount": Decimal("0.10"), "currency": "MAD"}),
                      ("correct", {"index": 0, "amount": Decimal("800000000")})])
    amounts = [e.amount for e in stored_and_loaded(mapper, history) if hasattr(e, "amount")]
    assert amounts == [Decimal("900000000.50"), Decimal("0.10"), Decimal(800000000)]
    assert all(type(a) is Decimal for a in amounts)
