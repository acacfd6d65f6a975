"""The benchmark's output: the table on the terminal, the JSON object, and bench/RESULTS.md."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from bench import Figure

RESULTS = Path(__file__).with_name("RESULTS.md")
ANALYSIS_MARKER = "<!-- analysis: written by hand, kept when the tables above are regenerated -->"


def value_text(figure: Figure) -> str:
    return "not measured" if figure.value is None else f"{figure.value:.3g}"


def table(figures: Sequence[Figure]) -> str:
    """A Markdown table: readable on a terminal, and the body of RESULTS.md."""
    lines = ["| figure | ratio | target | met | baseline | measured |", "|---|---|---|---|---|---|"]
    lines += [f"| {f.name} | {value_text(f)} | {f.target_text} | {'yes' if f.met else 'NO'} | {f.baseline} | {f.note} |"
              for f in figures]
    return "\n".join(lines)


def as_json(figures: Sequence[Figure]) -> str:
    return json.dumps({f.name: f.as_json() for f in figures}, indent=2)


def kept_analysis() -> str:
    """The hand-written part of RESULTS.md (what limits each figure, with profiles), which a new run keeps."""
    if RESULTS.exists():
        text = RESULTS.read_text(encoding="utf-8")
        if ANALYSIS_MARKER in text:
            return text[text.index(ANALYSIS_MARKER):]
    return f"{ANALYSIS_MARKER}\n\n## What limits each figure\n\n(to be written from the profiles)\n"


def write_results(figures: Sequence[Figure], machine: Mapping[str, str], command: str, seconds: float) -> Path:
    """Write bench/RESULTS.md: the table, the machine and the command, above the kept analysis."""
    met = sum(f.met for f in figures)
    machine_lines = "\n".join(f"- {key}: {value}" for key, value in machine.items())
    text = (f"# Benchmark results\n\nMeasured by `{command}` from the project root in {seconds:.0f} s; "
            f"{met} of {len(figures)} targets met.\nEvery figure is a ratio of two measurements taken side by side "
            f"in this run (DESIGN section 9).\n\n{table(figures)}\n\n## Machine\n\n{machine_lines}\n\n{kept_analysis()}")
    RESULTS.write_text(text, encoding="utf-8")
    return RESULTS
