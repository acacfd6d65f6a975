"""The hash chain: a canonical serialisation of each event and its SHA-256 link to the one before.

The same function hashes an event when it is created (from the values the aggregate
passes to the library) and when an auditor verifies it (from the values decoded out of
the stored row), so the serialisation is defined on plain values, not on the storage
format: mappings become objects with sorted keys, sequences become arrays, and
Decimal, date, datetime and UUID become strings. Floats are refused, because money is
never a float and a float has no single canonical text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

GENESIS_HASH = "0" * 64
"""The `prev_hash` of the first event of every agreement."""

UNHASHED_FIELDS = frozenset({"hash", "class_version"})
"""Stored fields that are not part of what is hashed: the hash itself, and the
class version the mapper adds when an event class is upcast later."""

JSONValue = None | bool | int | str | list["JSONValue"] | dict[str, "JSONValue"]


def plain(value: object) -> JSONValue:
    """Turn a field value into the JSON value that represents it canonically."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        msg = "floats have no canonical form; use Decimal"
        raise TypeError(msg)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return value.hex
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence):
        return [plain(v) for v in value]
    msg = f"no canonical form for {type(value).__name__}"
    raise TypeError(msg)


def canonical_bytes(
    topic: str, originator_id: UUID, originator_version: int, fields: Mapping[str, object]
) -> bytes:
    """The bytes that are hashed for one event."""
    body = {
        "topic": topic,
        "originator_id": originator_id.hex,
        "originator_version": originator_version,
        "fields": {k: plain(v) for k, v in fields.items() if k not in UNHASHED_FIELDS},
    }
    return json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def event_hash(
    topic: str, originator_id: UUID, originator_version: int, fields: Mapping[str, object]
) -> str:
    """SHA-256 over the canonical serialisation; `fields` includes `prev_hash`, which links the chain."""
    return hashlib.sha256(
        canonical_bytes(topic, originator_id, originator_version, fields)
    ).hexdigest()
