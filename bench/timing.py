"""Side-by-side timing: contenders take turns in rounds, so a burst of load from elsewhere hits them all alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

Contender = Callable[[int], None]
"""Does `n` operations of one kind (commands, rows, requests)."""


def alternating_rates(contenders: Mapping[str, Contender], count: int, rounds: int) -> dict[str, list[float]]:
    """Operations per second of each contender, one entry per round; the order flips every round."""
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for round_index in range(rounds):
        for name in names if round_index % 2 == 0 else reversed(names):
            started = time.perf_counter()
            contenders[name](count)
            rates[name].append(count / (time.perf_counter() - started))
    return rates


def ratio_of_rounds(numerator: list[float], denominator: list[float]) -> float:
    """The median over rounds of the per-round ratio: each round's two rates were taken moments apart."""
    return statistics.median(a / b for a, b in zip(numerator, denominator, strict=True))


def per_second(rates: list[float]) -> str:
    return f"{statistics.median(rates):,.0f}/s"


def seconds(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started
