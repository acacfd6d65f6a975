"""The reminder ladder: which reminder a milestone is due for on a given day, and to whom."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

DEFAULT_LADDER = "-14,-3,+1,+30:lead"
RUNG_PATTERN = re.compile(r"^([+-]?\d{1,4})(?::(responsible|lead))?$")


class BadLadder(ValueError):
    """The ladder setting cannot be read."""


@dataclass(frozen=True)
class Rung:
    """One step: `offset_days` from the due date (negative = before it), sent to the responsible or lead party."""

    offset_days: int
    audience: str = "responsible"

    @property
    def name(self) -> str:
        days = abs(self.offset_days)
        if self.audience == "lead":
            return f"escalation-{days}d"
        if self.offset_days < 0:
            return f"due-in-{days}d"
        if self.offset_days == 0:
            return "due-today"
        return f"overdue-{days}d"

    def arrived(self, due_on: date, as_of: date) -> bool:
        """Whether this rung applies on `as_of`: its day has come, and a before-due rung only until the due date."""
        reached = due_on + timedelta(days=self.offset_days) <= as_of
        return reached and (self.offset_days > 0 or as_of <= due_on)


@dataclass(frozen=True)
class Ladder:
    """The rungs, ordered by offset. Only the latest rung that has arrived is sent, so a scheduler that was down
    catches up with the one reminder that still makes sense rather than a burst of stale ones."""

    rungs: tuple[Rung, ...]

    def current(self, due_on: date, as_of: date) -> Rung | None:
        arrived = [r for r in self.rungs if r.arrived(due_on, as_of)]
        return arrived[-1] if arrived else None

    @property
    def lookahead_days(self) -> int:
        """How far ahead of `as_of` a before-due rung can reach."""
        return max([-r.offset_days for r in self.rungs if r.offset_days <= 0], default=-1)

    @property
    def reaches_overdue(self) -> bool:
        return any(r.offset_days > 0 for r in self.rungs)


def parse_ladder(spec: str) -> Ladder:
    """Read a ladder such as "-14,-3,+1,+30:lead": days from the due date, optionally `:lead` or `:responsible`."""
    rungs: list[Rung] = []
    for part in (p.strip() for p in spec.split(",")):
        match = RUNG_PATTERN.match(part)
        if match is None:
            msg = f"reminder ladder: {part!r} is not a rung; write days from the due date, e.g. -14,-3,+1,+30:lead"
            raise BadLadder(msg)
        rungs.append(Rung(int(match.group(1)), match.group(2) or "responsible"))
    offsets = [r.offset_days for r in rungs]
    if len(set(offsets)) != len(offsets):
        msg = f"reminder ladder: each day may hold one rung, got {spec!r}"
        raise BadLadder(msg)
    return Ladder(tuple(sorted(rungs, key=lambda r: r.offset_days)))
