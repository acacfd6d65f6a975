"""The benchmark's surface: `python -m bench --quick --json` prints one JSON object with every figure of DESIGN section 9."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import Figure, not_measured

ROOT = Path(__file__).resolve().parents[1]
FIGURES = {
    "command_path_vs_library", "command_path_vs_raw_sqlite", "latency_10000_vs_10_events", "catch_up_vs_raw_read",
    "overdue_query_vs_replay", "http_get_agreement_vs_healthz", "http_post_progress_vs_healthz", "postgres_8_writers_vs_1",
    "export_peak_memory_200k_vs_50k", "audit_verify_peak_memory_200k_vs_50k",
}
TARGETS = {
    "command_path_vs_library": 2.0, "command_path_vs_raw_sqlite": 0.15, "latency_10000_vs_10_events": 1.3,
    "catch_up_vs_raw_read": 0.25, "overdue_query_vs_replay": 1000.0, "http_get_agreement_vs_healthz": 0.5,
    "http_post_progress_vs_healthz": 0.25, "postgres_8_writers_vs_1": 3.0, "export_peak_memory_200k_vs_50k": 1.2,
    "audit_verify_peak_memory_200k_vs_50k": 1.2,
}


def run_bench(*args: str, timeout: float, env: dict[str, str] | None = None) -> tuple[dict[str, dict[str, object]], str]:
    done = subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False, env=None if env is None else {**os.environ, **env})
    assert done.returncode == 0, done.stderr[-2000:]
    parsed: dict[str, dict[str, object]] = json.loads(done.stdout)
    return parsed, done.stderr


def test_a_figure_is_met_only_when_measured_on_the_right_side_of_its_target() -> None:
    assert Figure("higher", 2.0, 2.0, "higher", "b").met
    assert not Figure("higher", 1.99, 2.0, "higher", "b").met
    assert Figure("lower", 1.3, 1.3, "lower", "b").met
    assert not Figure("lower", 1.31, 1.3, "lower", "b").met
    missing = not_measured("missing", 1.0, "higher", "b", "no such feature")
    assert missing.as_json() == {"value": None, "target": 1.0, "met": False}
    assert missing.note == "not measured: no such feature"


def test_one_group_prints_only_its_figures_as_json() -> None:
    figures, _ = run_bench("--quick", "--json", "--only", "latency over history", timeout=120)
    assert set(figures) == {"latency_10000_vs_10_events"}
    latency = figures["latency_10000_vs_10_events"]
    assert set(latency) == {"value", "target", "met"}
    assert latency["target"] == 1.3
    assert isinstance(latency["value"], float)
    assert latency["value"] > 0
    assert latency["met"] is (latency["value"] <= 1.3)


def test_a_figure_whose_database_is_unreachable_is_not_measured_and_says_why() -> None:
    figures, stderr = run_bench("--quick", "--json", "--only", "PostgreSQL writers", timeout=60,
                                env={"COMMITMENTS_TEST_PG": "postgresql://postgres@127.0.0.1:1/test"})
    assert figures == {"postgres_8_writers_vs_1": {"value": None, "target": 3.0, "met": False}}
    assert stderr.startswith("postgres_8_writers_vs_1: not measured: PostgreSQL is not reachable at "
                             "postgresql://postgres@127.0.0.1:1/test")


@pytest.mark.slow
def test_quick_json_has_every_figure_with_value_target_and_met() -> None:
    figures, _ = run_bench("--quick", "--json", timeout=240)
    assert set(figures) == FIGURES
    for name, figure in figures.items():
        assert set(figure) == {"value", "target", "met"}, name
        assert figure["target"] == TARGETS[name], name
        assert isinstance(figure["met"], bool), name
        value = figure["value"]
        assert value is None or (isinstance(value, float) and value > 0), name
        if value is None:
            assert figure["met"] is False, name
    # The features on SQLite are all in the tree: those figures must be measured, not skipped.
    measured = {name for name, figure in figures.items() if figure["value"] is not None}
    assert {"command_path_vs_library", "command_path_vs_raw_sqlite", "latency_10000_vs_10_events",
            "export_peak_memory_200k_vs_50k", "audit_verify_peak_memory_200k_vs_50k"} <= measured
