"""Verification of the hash chains: every stored row recomputed, every link and version checked, in one pass."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from app.audit.store import StoredRow
from domain.agreement import agreement_id
from domain.chain import GENESIS_HASH, event_hash

Decode = Callable[[bytes], Any]
"""Turns a row's stored state into its field dict (the application's mapper, without building the event)."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong in the store: which agreement, which version, what."""

    agreement: str | None
    agreement_id: str | None
    version: int | None
    position: int | None
    problem: str

    def as_dict(self) -> dict[str, Any]:
        return {"agreement": self.agreement, "agreement_id": self.agreement_id, "version": self.version,
                "position": self.position, "problem": self.problem}

    def __str__(self) -> str:
        where = ", ".join(part for part in (
            f"agreement {self.agreement}" if self.agreement else None,
            f"version {self.version}" if self.version is not None else None,
            f"position {self.position}" if self.position is not None else None,
        ) if part)
        return f"{where}: {self.problem}" if where else self.problem


@dataclass
class Head:
    """What the verifier keeps per agreement: the last version seen and the hashes to link the next one to."""

    ref: str | None
    version: int
    stored_hash: str
    content_hash: str


@dataclass
class Report:
    """The outcome of a verification."""

    agreements_checked: int
    events_checked: int
    problems: list[Problem]
    heads: dict[str, Head] = field(repr=False)
    covered_hashes: dict[str, str] = field(repr=False)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "agreements_checked": self.agreements_checked,
                "events_checked": self.events_checked, "problems": [p.as_dict() for p in self.problems]}


class ChainVerifier:
    """Feed it stored rows in log order; it keeps only each agreement's head, so memory does not grow with history.

    Each row must decode, its content must hash to its stored `hash`, its `prev_hash` must
    be the stored hash of the agreement's previous event (GENESIS_HASH for version 1), and
    an agreement's versions must appear 1, 2, 3, ... in log order, which is the order the
    library writes them in. `covered` names versions (agreement id -> version) whose
    content hash is kept, for checking a digest afterwards.
    """

    def __init__(self, decode: Decode, covered: Mapping[str, int] | None = None) -> None:
        self.decode = decode
        self.covered = covered or {}
        self.heads: dict[str, Head] = {}
        self.covered_hashes: dict[str, str] = {}
        self.problems: list[Problem] = []
        self.events_checked = 0

    def check_all(self, rows: Iterable[StoredRow]) -> Report:
        for row in rows:
            self.check(row)
        return self.report()

    def report(self) -> Report:
        return Report(len(self.heads), self.events_checked, self.problems, self.heads, self.covered_hashes)

    def check(self, row: StoredRow) -> None:
        self.events_checked += 1
        head = self.heads.get(row.originator_id)
        version = row.originator_version if isinstance(row.originator_version, int) else None
        if version is None or version < 1:
            self._problem(row, head.ref if head else None, None,
                          f"the version column holds {row.originator_version!r}, not a version number")
            return
        fields = self._fields(row, head, version)
        if fields is not None and head is None and isinstance(fields.get("ref"), str):
            head_ref: str | None = fields["ref"]
        else:
            head_ref = head.ref if head else None
        if fields is None:
            # Unreadable: still advance the head, so the rows after it are checked against their neighbours.
            self._advance(row.originator_id, head, Head(head.ref if head else None, version, "", ""))
            return
        stored_hash = str(fields.get("hash"))
        content_hash = self._content_hash(row, head_ref, version, fields)
        if content_hash is not None and content_hash != stored_hash:
            self._problem(row, head_ref, version, "the event's content does not match its hash: it was edited")
        self._check_link(row, head, head_ref, version, fields)
        ref = self._check_ref(row, fields) if version == 1 else head_ref
        if self.covered.get(row.originator_id) == version and content_hash is not None:
            self.covered_hashes[row.originator_id] = content_hash
        self._advance(row.originator_id, head, Head(ref, version, stored_hash, content_hash or ""))

    def _advance(self, originator_id: str, head: Head | None, new: Head) -> None:
        # A row that comes too late (reordered) does not move the head back, so the rows after it are not blamed.
        if head is None or new.version > head.version:
            self.heads[originator_id] = new

    def _fields(self, row: StoredRow, head: Head | None, version: int) -> dict[str, Any] | None:
        try:
            fields = self.decode(row.state)
        except (ValueError, KeyError, TypeError, ArithmeticError) as e:
            self._problem(row, head.ref if head else None, version, f"the stored state cannot be read ({type(e).__name__}): it was edited")
            return None
        if not isinstance(fields, dict) or not isinstance(fields.get("hash"), str) \
                or not isinstance(fields.get("prev_hash"), str):
            self._problem(row, head.ref if head else None, version,
                          "the stored state has no hash or prev_hash: it was edited or inserted by hand")
            return None
        return fields

    def _content_hash(self, row: StoredRow, ref: str | None, version: int, fields: dict[str, Any]) -> str | None:
        try:
            return event_hash(row.topic, UUID(hex=row.originator_id), version, fields)
        except (ValueError, TypeError) as e:
            self._problem(row, ref, version, f"the event cannot be hashed ({e}): it was edited")
            return None

    def _check_link(self, row: StoredRow, head: Head | None, ref: str | None, version: int,
                    fields: dict[str, Any]) -> None:
        expected_version = head.version + 1 if head else 1
        if version > expected_version:
            missing = f"version {expected_version} is" if version == expected_version + 1 \
                else f"versions {expected_version} to {version - 1} are"
            self._problem(row, ref, version, f"{missing} missing before this event: deleted, or moved later in the log")
        elif version < expected_version:
            self._problem(row, ref, version,
                          f"this event comes after version {expected_version - 1} in the log: events were reordered")
        elif (head is None or head.stored_hash) and fields["prev_hash"] != (head.stored_hash if head else GENESIS_HASH):
            before = f"version {version - 1}" if head else "the start of the chain"
            self._problem(row, ref, version,
                          f"prev_hash does not link to {before}: an event was inserted, replaced or reordered")

    def _check_ref(self, row: StoredRow, fields: dict[str, Any]) -> str | None:
        ref = fields.get("ref")
        if not isinstance(ref, str):
            self._problem(row, None, 1, "the first event names no agreement ref")
            return None
        if agreement_id(ref).hex != row.originator_id:
            self._problem(row, ref, 1, f"the first event's ref {ref!r} does not belong to this agreement id")
        return ref

    def _problem(self, row: StoredRow, ref: str | None, version: int | None, problem: str) -> None:
        self.problems.append(Problem(ref or row.originator_id, row.originator_id, version, row.position, problem))


def decoder_of(mapper: Any) -> Decode:
    """The mapper's own way from stored bytes to fields: decrypt, decompress, decode (whichever it is set up for)."""

    def decode(state: bytes) -> Any:
        if mapper.cipher is not None:
            state = mapper.cipher.decrypt(state)
        if mapper.compressor is not None:
            state = mapper.compressor.decompress(state)
        return mapper.transcoder.decode(state)

    return decode
