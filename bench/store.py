"""Event stores built fast: real Agreement aggregates (so every event is properly hash-chained), written in batches.

Going through the service would cost one durable commit per event; the benchmark needs
stores of 10^5 events in seconds, so it calls the domain directly and hands the library's
recorder one transaction per batch. Snapshots are written where the service would write
them, so a cold load costs what it costs in production.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal

from eventsourcing.persistence import StoredEvent

from app.ledger import AgreementLedger
from domain.agreement import Agreement
from domain.values import Recorded

RECORDED = Recorded(actor="bench", effective_on=date(2026, 1, 15), source="bench")
PARTIES = ("MIC", "MEF")


def signed(ref: str) -> Agreement:
    """A new agreement with two parties, the way `commitments sign` records one."""
    return Agreement.sign(
        ref=ref, kind="convention",
        title={"ar": "اتفاقية للقياس", "fr": "Convention de mesure", "en": "Benchmark agreement"},
        parties=[{"short_name": name, "role": "lead" if index == 0 else "signatory",
                  "name": {"ar": name, "fr": name, "en": name}} for index, name in enumerate(PARTIES)],
        signed_on=date(2025, 1, 10), place="Rabat", occasion="benchmark",
        starts_on=date(2025, 1, 10), ends_on=date(2030, 12, 31), parent_ref=None, recorded=RECORDED,
    )


def milestone_id(index: int) -> str:
    return f"m{index}"


def history(ref: str, events: int, milestones: int, due_on: Callable[[int], date]) -> Iterator[Agreement]:
    """One agreement grown to `events` events: signed, funded, `milestones` planned, then progress reports.

    Every event carries a command id, as the demo's and idempotent API clients' do, so the agreement's
    state (and its snapshots) hold one entry per event, as they would in use. Yields the agreement after
    each new event, so the caller can collect it (and snapshot it) as it goes.
    """
    agreement = signed(ref)
    yield agreement

    def recorded() -> Recorded:
        return replace(RECORDED, command_id=f"{ref}:{agreement.version + 1}")

    if agreement.version < events:
        agreement.allocate_funding(amount=Decimal("1500000.00"), currency="MAD", fund="FDII", fiscal_years=[2025, 2026],
                                   purpose="benchmark", recorded=recorded())
        yield agreement
    for index in range(min(milestones, events - agreement.version)):
        agreement.plan_milestone(milestone_id=milestone_id(index), title=f"Milestone {index}", due_on=due_on(index),
                                 responsible=PARTIES[index % 2], kind="delivery", recorded=recorded())
        yield agreement
    report = 0
    while agreement.version < events:
        agreement.report_progress(milestone_id=milestone_id(report % max(milestones, 1)), percent=report % 100,
                                  note="monthly report", reason="revised estimate", recorded=recorded())
        report += 1
        yield agreement


@dataclass
class StoreWriter:
    """Writes agreements' events (and snapshots) into a ledger's store, one transaction per batch."""

    ledger: AgreementLedger
    limit: int
    batch_size: int = 5_000
    written: int = 0
    _events: list[StoredEvent] = field(default_factory=list)
    _snapshots: list[StoredEvent] = field(default_factory=list)

    @property
    def full(self) -> bool:
        return self.written + len(self._events) >= self.limit

    def add(self, events: list[StoredEvent], snapshots: list[StoredEvent]) -> None:
        self._events.extend(events)
        self._snapshots.extend(snapshots)
        if len(self._events) >= self.batch_size:
            self.flush()

    def flush(self) -> None:
        if self._events:
            self.ledger.recorder.insert_events(self._events)
            self.written += len(self._events)
        snapshot_recorder = self.ledger.snapshots.recorder if self.ledger.snapshots is not None else None
        if self._snapshots and snapshot_recorder is not None:
            snapshot_recorder.insert_events(self._snapshots)
        self._events, self._snapshots = [], []


def write_agreements(writers: Iterable[StoreWriter], agreements: Iterable[Iterator[Agreement]]) -> None:
    """Write whole agreements into every writer that is not yet full; stop when all are.

    Writing the same agreements to a small and a large store in one pass makes the small
    store the first part of the large one, and costs the domain work once.
    """
    writers = list(writers)
    mapper = writers[0].ledger.mapper
    interval = writers[0].ledger.snapshot_interval
    for grown in agreements:
        open_writers = [w for w in writers if not w.full]
        if not open_writers:
            break
        events: list[StoredEvent] = []
        snapshots: list[StoredEvent] = []
        for agreement in grown:
            events.extend(mapper.to_stored_event(e) for e in agreement.collect_events())
            if agreement.version % interval == 0:
                snapshots.append(mapper.to_stored_event(Agreement.Snapshot.take(agreement)))
        for writer in open_writers:
            writer.add(events, snapshots)
    for writer in writers:
        writer.flush()


def due_dates_around(as_of: date, overdue_share: int) -> Callable[[int], date]:
    """Due dates for milestone i: one in `overdue_share` falls before `as_of`, the rest after it."""

    def due_on(index: int) -> date:
        if index % overdue_share == 0:
            return as_of - timedelta(days=10 + index)
        return as_of + timedelta(days=30 + index)

    return due_on
