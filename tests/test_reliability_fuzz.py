"""Bad input everywhere, part 2: the CLI and the JSONL importer fed malformed arguments and files.

Every refusal is one line on stderr starting `error:`, exit code 2, no traceback, and
nothing written (the events table is compared before and after). Most cases run the
CLI's entry point in-process (fast enough to fuzz); a few run the real installed
`commitments` program, to show the process-level behaviour is the same.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.cli import main
from app.service import CommitmentService
from domain.chain import event_hash
from tests import golden_events as golden
from tests import reliability_support as support


@dataclass(frozen=True)
class Outcome:
    code: int
    stdout: str
    stderr: str


def run_cli(argv: list[str]) -> Outcome:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(argv)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    return Outcome(code, out.getvalue(), err.getvalue())


def assert_refused(outcome: Outcome) -> None:
    assert outcome.code == 2, outcome
    assert "Traceback" not in outcome.stderr
    lines = outcome.stderr.splitlines()
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith("error: ")
    assert len(lines[0]) > len("error: ")


def row_count(database_url: str) -> int:
    service = CommitmentService(support.settings(database_url))
    try:
        return len(support.stored_rows(service))
    finally:
        service.close()


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> str:
    """An SQLite store with one agreement: milestone m1, 1000 MAD allocated. Refused commands must leave it as it is."""
    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'fuzz.db'}"
    service = CommitmentService(support.settings(url))
    try:
        support.sign_sample(service, "fuzzed")
        run = run_cli(["--db", url, "fund", "fuzzed", "--amount", "1000", "--fund", "F", "--purpose", "p"])
        assert run.code == 0, run
    finally:
        service.close()
    return url


WRITE_CASES: list[list[str]] = [
    ["fund", "fuzzed", "--amount", "abc", "--fund", "F", "--purpose", "p"],
    ["fund", "fuzzed", "--amount", "-5", "--fund", "F", "--purpose", "p"],
    ["fund", "fuzzed", "--amount", "0", "--fund", "F", "--purpose", "p"],
    ["fund", "fuzzed", "--amount", "1e400", "--fund", "F", "--purpose", "p"],
    ["fund", "fuzzed", "--amount", "NaN", "--fund", "F", "--purpose", "p"],
    ["fund", "fuzzed", "--amount", "12.345", "--fund", "F", "--purpose", "p"],
    ["fund", "fuzzed", "--amount", "10", "--fund", "F", "--purpose", "p", "--currency", "euro"],
    ["fund", "fuzzed", "--amount", "10", "--fund", "F", "--purpose", "p", "--fiscal-year", "twenty"],
    ["fund", "fuzzed", "--amount", "10", "--fund", "", "--purpose", "p"],
    ["fund", "no-such-agreement", "--amount", "10", "--fund", "F", "--purpose", "p"],
    ["fund", "fuzzed", "--amount", "10", "--fund", "F", "--purpose", "p", "--effective-on", "2026-02-30"],
    ["fund", "fuzzed", "--amount", "10", "--fund", "F", "--purpose", "p", "--command-id", ""],
    ["fund", "fuzzed", "--amount", "10", "--fund", "F", "--purpose", "p", "--command-id", "x" * 201],
    ["fund", "fuzzed", "--amount", "10", "--fund", "F"],
    ["fund", "fuzzed", "--amount", "10", "--fund", "F", "--purpose", "p", "--bogus"],
    ["disburse", "fuzzed", "--amount", "1000.01", "--value-date", "2026-01-01", "--tranche", "T1"],
    ["disburse", "fuzzed", "--amount", "5", "--value-date", "yesterday", "--tranche", "T1"],
    ["disburse", "fuzzed", "--amount", "5", "--value-date", "2026-01-01", "--tranche", "T1", "--currency", "EUR"],
    ["correct-funding", "fuzzed", "--version", "1", "--amount", "10", "--reason", "r"],
    ["correct-funding", "fuzzed", "--version", "-3", "--amount", "10", "--reason", "r"],
    ["correct-funding", "fuzzed", "--version", "x", "--amount", "10", "--reason", "r"],
    ["milestone", "progress", "fuzzed", "m1", "--percent", "101", "--note", "n"],
    ["milestone", "progress", "fuzzed", "m1", "--percent", "-1", "--note", "n"],
    ["milestone", "progress", "fuzzed", "m1", "--percent", "half", "--note", "n"],
    ["milestone", "progress", "fuzzed", "m1", "--percent", "50", "--note", "   "],
    ["milestone", "progress", "fuzzed", "nope", "--percent", "50", "--note", "n"],
    ["milestone", "progress", "fuzzed", "m1", "--percent", "50", "--note", "n" * 2001],
    ["milestone", "progress", "fuzzed"],
    ["milestone", "plan", "fuzzed", "m1", "--title", "t", "--due", "2026-01-01", "--responsible", "MIC"],
    ["milestone", "plan", "fuzzed", "m9", "--title", "t", "--due", "2026-01-01", "--responsible", "NOBODY"],
    ["milestone", "plan", "fuzzed", "bad id!", "--title", "t", "--due", "2026-01-01", "--responsible", "MIC"],
    ["milestone", "plan", "fuzzed", "m9", "--title", "t", "--due", "01/02/2026", "--responsible", "MIC"],
    ["milestone", "plan", "fuzzed", "m9", "--title", "t", "--due", "2026-01-01", "--responsible", "MIC",
     "--kind", "party"],
    ["milestone", "reschedule", "fuzzed", "m1", "--due", "2030-12-31", "--reason", "same date"],
    ["milestone", "complete", "fuzzed", "m1", "--evidence", "e", "--on", "2026-01-02", "--effective-on", "2026-01-01"],
    ["milestone", "cancel", "fuzzed", "m1", "--reason", ""],
    ["contact", "add", "fuzzed", "MIC", "--channel", "pigeon", "--address", "a"],
    ["contact", "add", "fuzzed", "NOBODY", "--channel", "email", "--address", "a@b.c"],
    ["contact", "add", "fuzzed", "MIC", "--channel", "email", "--address", "a@b.c\nBcc: x@y.z"],
    ["extend", "fuzzed", "--until", "2020-01-01", "--instrument", "i", "--reason", "r"],
    ["terminate", "fuzzed", "--on", "not-a-date", "--reason", "r"],
    ["show", "fuzzed", "--as-of", "2026-13-01"],
    ["show", "no-such-agreement"],
    ["history", "no-such-agreement"],
    ["no-such-command"],
    ["milestone", "no-such-subcommand"],
]


@pytest.mark.parametrize("argv", WRITE_CASES, ids=lambda a: " ".join(a)[:60])
def test_malformed_cli_arguments_are_refused_cleanly(seeded: str, argv: list[str]) -> None:
    before = row_count(seeded)
    assert_refused(run_cli(["--db", seeded, *argv]))
    assert row_count(seeded) == before


def test_bad_database_urls_are_refused_cleanly(tmp_path: Path) -> None:
    for url in ["mysql://x/y", "not a url", "sqlite://", f"sqlite:///{tmp_path}/no/such/dir/x.db"]:
        assert_refused(run_cli(["--db", url, "list"]))


SIGN_FILES: dict[str, bytes] = {
    "empty": b"",
    "not-json": b"{ref: 1",
    "array": b"[1, 2]",
    "string": b'"agreement"',
    "invalid-utf8": b"\xff\xfe\x00{}",
    "deeply-nested": b"[" * 100_000,
    "deeply-nested-object": b'{"a":' * 50_000,
    "missing-fields": b'{"ref": "x-y"}',
    "extra-field": json.dumps({**support.sign_command("extra-field").model_dump(mode="json"),
                               "admin": True}).encode(),
    "bad-dates": json.dumps({**support.sign_command("bad-dates").model_dump(mode="json"),
                             "ends_on": "2020-01-01"}).encode(),
    "duplicate-parties": json.dumps({**support.sign_command("dup-parties").model_dump(mode="json"),
                                     "parties": [support.sign_command("a-b").model_dump(mode="json")["parties"][0]] * 2
                                     }).encode(),
    "already-signed": json.dumps(support.sign_command("fuzzed").model_dump(mode="json") | {"command_id": None}).encode(),
}


@pytest.mark.parametrize("name", sorted(SIGN_FILES))
def test_malformed_agreement_files_are_refused_cleanly(seeded: str, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.json"
    path.write_bytes(SIGN_FILES[name])
    before = row_count(seeded)
    assert_refused(run_cli(["--db", seeded, "sign", str(path)]))
    assert row_count(seeded) == before


def test_missing_and_unreadable_files_are_refused_cleanly(seeded: str, tmp_path: Path) -> None:
    assert_refused(run_cli(["--db", seeded, "sign", str(tmp_path / "absent.json")]))
    assert_refused(run_cli(["--db", seeded, "sign", str(tmp_path)]))
    assert_refused(run_cli(["--db", seeded, "import", str(tmp_path / "absent.jsonl")]))


TOKENS = st.one_of(
    st.sampled_from(["fuzzed", "m1", "nope", "--amount", "--percent", "--note", "--fund", "--purpose", "--due",
                     "--value-date", "--tranche", "--reason", "--effective-on", "--command-id", "--json", "-1", "0",
                     "100", "1e9", "2026-02-30", "2026-06-01", "NaN", "", "--", "-", "MIC"]),
    st.text(max_size=12),
)
COMMANDS = st.sampled_from([["fund"], ["disburse"], ["milestone", "progress"], ["milestone", "plan"],
                            ["milestone", "reschedule"], ["milestone", "complete"], ["contact", "add"], ["extend"],
                            ["correct-funding"], ["show"], ["history"]])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(command=COMMANDS, tokens=st.lists(TOKENS, max_size=8))
def test_random_arguments_never_crash_and_never_half_write(seeded: str, command: list[str], tokens: list[str]) -> None:
    before = row_count(seeded)
    outcome = run_cli(["--db", seeded, *command, *[t.replace("\x00", "") for t in tokens]])
    assert "Traceback" not in outcome.stderr
    assert outcome.code in (0, 2), outcome
    after = row_count(seeded)
    if outcome.code == 2:
        assert_refused(outcome)
        assert after == before
    else:
        assert after - before in (0, 1)  # a read, or exactly one new fact


def test_the_real_program_refuses_without_a_traceback(seeded: str, tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_bytes(b"[" * 100_000)
    cases = [["sign", str(deep)], ["fund", "fuzzed", "--amount", "abc", "--fund", "F", "--purpose", "p"],
             ["milestone", "progress", "fuzzed", "m1", "--percent", "500", "--note", "n"]]
    before = row_count(seeded)
    for argv in cases:
        run = subprocess.run([support.COMMITMENTS, "--db", seeded, *argv], capture_output=True, text=True,
                             timeout=60, check=False)
        assert_refused(Outcome(run.returncode, run.stdout, run.stderr))
    assert row_count(seeded) == before


# The JSONL importer: the golden log is a valid export; each mutation of it must be refused with nothing written.

def _forge(line: dict[str, object], previous_hash: str, **changes: object) -> dict[str, object]:
    """Rewrite one exported line and recompute its hash, as a forger with the format in hand would."""
    state = json.loads(str(line["state"]))
    line = {**line, **changes}
    state["prev_hash"] = previous_hash
    fields = dict(state)
    fields["timestamp"] = fields["timestamp"]["_data_"]
    fields = {k: (v["_data_"] if isinstance(v, dict) and "_type_" in v else v) for k, v in fields.items()}
    state["hash"] = event_hash(str(line["topic"]), UUID(str(line["originator_id"])), int(str(line["originator_version"])),
                               fields)
    return {**line, "state": json.dumps(state, ensure_ascii=False, separators=(",", ":"))}


def _import_cases() -> dict[str, bytes]:
    lines = golden.golden_lines()
    text = [json.dumps(line, ensure_ascii=False) for line in lines]
    tampered = json.loads(str(lines[3]["state"]))
    tampered["amount"]["_data_"] = "1.00"
    forged_topic = [*text[:-1], json.dumps(_forge(lines[-1], json.loads(str(lines[-2]["state"]))["hash"],
                                                  topic="os:system"))]
    return {
        "empty": b"",
        "blank-lines": b"\n\n\n",
        "junk-line": "\n".join([*text[:5], "this is not json", *text[5:]]).encode(),
        "truncated-last-line": "\n".join(text)[:-40].encode(),
        "tampered-amount": "\n".join([*text[:3], json.dumps({**lines[3], "state": json.dumps(tampered)}), *text[4:]]).encode(),
        "missing-event": "\n".join(text[:5] + text[6:]).encode(),
        "duplicated-event": "\n".join(text[:5] + text[4:]).encode(),
        "swapped-events": "\n".join([*text[:4], text[5], text[4], *text[6:]]).encode(),
        "invalid-utf8": b"\xff\xfe" + "\n".join(text).encode(),
        "deeply-nested": "\n".join([*text[:2], "[" * 100_000]).encode(),
        "array-line": "\n".join([*text[:2], "[1,2,3]"]).encode(),
        "version-as-text": "\n".join([*text[:2], json.dumps({**lines[2], "originator_version": "3"})]).encode(),
        "version-as-bool": "\n".join([json.dumps({**lines[0], "originator_version": True}), *text[1:]]).encode(),
        "bad-uuid": "\n".join([json.dumps({**lines[0], "originator_id": "not-a-uuid"}), *text[1:]]).encode(),
        "state-not-an-object": "\n".join([*text[:2], json.dumps({**lines[2], "state": "[1]"})]).encode(),
        "forged-foreign-topic": "\n".join(forged_topic).encode(),
    }


IMPORT_CASES = _import_cases()


@pytest.mark.parametrize("name", sorted(IMPORT_CASES))
def test_malformed_import_files_are_refused_and_nothing_is_written(database_url: str, tmp_path: Path, name: str) -> None:
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(IMPORT_CASES[name])
    assert_refused(run_cli(["--db", database_url, "import", str(path)]))
    assert row_count(database_url) == 0


def test_the_golden_log_imports_and_a_second_import_is_refused(database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "golden.jsonl"
    path.write_text("\n".join(json.dumps(line, ensure_ascii=False) for line in golden.golden_lines()) + "\n",
                    encoding="utf-8")
    imported = run_cli(["--db", database_url, "import", str(path), "--json"])
    assert imported.code == 0, imported
    assert json.loads(imported.stdout) == {"events": 20, "agreements": 2}
    assert row_count(database_url) == 20
    assert_refused(run_cli(["--db", database_url, "import", str(path)]))
    assert row_count(database_url) == 20
