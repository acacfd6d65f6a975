"""Start-up durability check: is a commit on disk when the store says it is?

The facts are read back from the event store's own connections (the library's pool),
not assumed from configuration:

- SQLite: `PRAGMA journal_mode` must be `wal` and `PRAGMA synchronous` must be `FULL`
  (or `EXTRA`). In WAL mode with `NORMAL`, a power cut can lose the last commits.
- PostgreSQL: `fsync` must be `on`, `synchronous_commit` must not be `off`, and
  `full_page_writes` must be `on`. With `synchronous_commit=off` a crash of the
  server loses recently acknowledged commits (the database stays consistent, but a
  write we told a client about is gone).

`serve` (and any long-running process) calls `check_durability(service.ledger)` once
at start-up and logs each warning; `/healthz` can include `as_dict()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SQLITE_SYNCHRONOUS = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}
DURABLE_SQLITE_SYNCHRONOUS = frozenset({"FULL", "EXTRA"})
POSTGRES_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")


@dataclass(frozen=True)
class Durability:
    """What the store reports about durability, and what is wrong with it (nothing, when `durable`)."""

    backend: str
    settings: dict[str, str]
    warnings: list[str] = field(default_factory=list)

    @property
    def durable(self) -> bool:
        return not self.warnings

    def as_dict(self) -> dict[str, Any]:
        return {"backend": self.backend, "durable": self.durable, "settings": dict(self.settings),
                "warnings": list(self.warnings)}


def check_durability(ledger: Any) -> Durability:
    """Read the durability settings back from the ledger's own recorder connections."""
    datastore = ledger.recorder.datastore
    if type(datastore).__name__.startswith("SQLite"):
        return sqlite_durability(datastore)
    return postgres_durability(datastore)


def sqlite_durability(datastore: Any) -> Durability:
    # A writer connection: the one whose commits must be durable.
    with datastore.transaction(commit=True) as cursor:
        cursor.execute("PRAGMA journal_mode")
        journal_mode = str(cursor.fetchone()[0]).lower()
        cursor.execute("PRAGMA synchronous")
        level = int(cursor.fetchone()[0])
    synchronous = SQLITE_SYNCHRONOUS.get(level, str(level))
    warnings = []
    if journal_mode != "wal":
        warnings.append(f"SQLite journal_mode is {journal_mode}, not wal: readers and the writer block each other")
    if synchronous not in DURABLE_SQLITE_SYNCHRONOUS:
        warnings.append(f"SQLite synchronous is {synchronous}, not FULL: a power cut can lose acknowledged writes")
    return Durability("sqlite", {"journal_mode": journal_mode, "synchronous": synchronous}, warnings)


def postgres_durability(datastore: Any) -> Durability:
    settings: dict[str, str] = {}
    with datastore.transaction(commit=False) as cursor:
        for name in POSTGRES_SETTINGS:
            cursor.execute(f"SHOW {name}")
            row = cursor.fetchone()
            settings[name] = str(row[name] if isinstance(row, dict) else row[0])
    warnings = []
    if settings["fsync"] != "on":
        warnings.append("PostgreSQL fsync is off: a crash of the server can corrupt the database")
    if settings["synchronous_commit"] == "off":
        warnings.append("PostgreSQL synchronous_commit is off: a server crash can lose acknowledged writes")
    if settings["full_page_writes"] != "on":
        warnings.append("PostgreSQL full_page_writes is off: a crash can leave torn pages")
    return Durability("postgresql", settings, warnings)
