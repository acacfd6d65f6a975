"""Figure: projection catch-up into all views (events/s), over a raw read and decode of the same notifications.

The raw read is the floor any projection has to stand on: `select_notifications` in
batches, and the library's mapper turning each row back into a domain event. It is timed
just before and just after the catch-up, and the mean of the two is the baseline.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from app.service import CommitmentService
from bench import Figure, Sizes, not_measured
from bench.command_path import service_at
from bench.store import StoreWriter, due_dates_around, history, write_agreements
from bench.timing import ratio_of_rounds, seconds

NAME = "catch_up_vs_raw_read"
BASELINE = "raw read and decode of the same notifications (select_notifications + mapper.to_domain_event)"
EVENTS_PER_AGREEMENT = 40
READ_BATCH = 1_000
ROUNDS = 3
"""Each round empties the views, then times a raw read, a catch-up of every event, and a raw read again."""


class Views(Protocol):
    """The projections' ReadModels (issue 3), as far as the benchmark uses them."""

    def catch_up(self) -> int: ...
    def overdue(self, as_of: date) -> list[Any]: ...
    @property
    def views(self) -> Sequence[Resettable]: ...


class Resettable(Protocol):
    def reset(self) -> None: ...


class ViewsMissing(Exception):
    """The read models are not in the tree (yet)."""


def read_models(service: CommitmentService) -> Views:
    """The projections' read models (issue 3), as the service wires them in; the service closes them."""
    try:
        views: Views = service.views
    except (AttributeError, ImportError) as e:
        msg = f"the read models are not in the tree ({e})"
        raise ViewsMissing(msg) from None
    return views


def raw_read(service: CommitmentService) -> int:
    """Read and decode every notification, in batches, as a projection runner must."""
    recorder, to_domain_event = service.ledger.recorder, service.ledger.mapper.to_domain_event
    start, count = 1, 0
    while True:
        batch = recorder.select_notifications(start, READ_BATCH)
        for notification in batch:
            to_domain_event(notification)
        count += len(batch)
        if len(batch) < READ_BATCH:
            return count
        start = batch[-1].id + 1


def fill(service: CommitmentService, events: int) -> None:
    due = due_dates_around(date(2026, 11, 29), 4)
    agreements = (history(f"catch-up-{i}", EVENTS_PER_AGREEMENT, 8, due) for i in range(events // EVENTS_PER_AGREEMENT + 1))
    write_agreements([StoreWriter(service.ledger, limit=events)], agreements)


def measure(sizes: Sizes, workdir: Path) -> list[Figure]:
    service = service_at(workdir / "catch-up.db")
    try:
        try:
            views = read_models(service)
        except ViewsMissing as e:
            return [not_measured(NAME, 0.25, "higher", BASELINE, str(e))]
        fill(service, sizes.catch_up_events)
        events = service.max_position()
        raw_rates, view_rates = [], []
        for _ in range(ROUNDS):
            for view in views.views:  # empty views and positions, so every round catches up from the first event
                view.reset()
            before = seconds(lambda: raw_read(service))
            caught_up = seconds(views.catch_up)
            after = seconds(lambda: raw_read(service))
            raw_rates.append(events / ((before + after) / 2))
            view_rates.append(events / caught_up)
    finally:
        service.close()
    note = (f"{events:,} events, {ROUNDS} rounds: catch-up {statistics.median(view_rates):,.0f} events/s, raw read and "
            f"decode {statistics.median(raw_rates):,.0f} events/s (per round: "
            f"{', '.join(f'{v / r:.3f}' for v, r in zip(view_rates, raw_rates, strict=True))})")
    return [Figure(NAME, ratio_of_rounds(view_rates, raw_rates), 0.25, "higher", BASELINE, note)]
