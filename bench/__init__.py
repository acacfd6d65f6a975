"""The benchmark of DESIGN section 9: every figure is a ratio of two measurements taken side by side in one run.

Absolute rates on a shared machine are noise; a ratio of two contenders measured in
alternating rounds, on the same disk at the same moment, is not. Each figure names its
baseline and shows the rates behind the ratio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class Sizes:
    """How much work each figure does: small in `--quick` (CI, under a minute), the sizes of DESIGN section 9 otherwise."""

    quick: bool
    rounds: int
    commands: int
    agreements_for_commands: int
    history: int
    latency_samples: int
    catch_up_events: int
    overdue_agreements: int
    milestones_per_agreement: int
    http_requests: int
    pg_commands_per_writer: int
    memory_small_events: int
    memory_large_events: int


QUICK = Sizes(
    quick=True, rounds=3, commands=100, agreements_for_commands=10, history=2_000, latency_samples=100,
    catch_up_events=5_000, overdue_agreements=1_000, milestones_per_agreement=10, http_requests=30,
    pg_commands_per_writer=20, memory_small_events=2_000, memory_large_events=8_000,
)
FULL = Sizes(
    quick=False, rounds=5, commands=600, agreements_for_commands=50, history=10_000, latency_samples=600,
    catch_up_events=20_000, overdue_agreements=10_000, milestones_per_agreement=10, http_requests=600,
    pg_commands_per_writer=200, memory_small_events=50_000, memory_large_events=200_000,
)


@dataclass(frozen=True)
class Figure:
    """One line of the table: a ratio, its target, and what it was measured against."""

    name: str
    value: float | None
    target: float
    better: Better
    baseline: str
    note: str = ""

    @property
    def met(self) -> bool:
        if self.value is None:
            return False
        return self.value >= self.target if self.better == "higher" else self.value <= self.target

    @property
    def target_text(self) -> str:
        return f"{'>=' if self.better == 'higher' else '<='} {self.target:g}"

    def as_json(self) -> dict[str, object]:
        return {"value": None if self.value is None else round(self.value, 4), "target": self.target, "met": self.met}


def not_measured(name: str, target: float, better: Better, baseline: str, reason: str) -> Figure:
    """A figure whose feature is not in the tree (or whose database is not reachable): shown, never a crash."""
    return Figure(name, None, target, better, baseline, f"not measured: {reason}")
