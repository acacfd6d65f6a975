"""The auditor's digest: a Merkle root over every agreement's chain head, with the heads it covers.

A leaf is SHA-256(0x00 || "<agreement id hex>:<version>:<event hash>") and an inner node
SHA-256(0x01 || left || right); the distinct prefixes keep a leaf from ever passing for a
node. The tree over n sorted leaves splits at the largest power of two below n (the
shape of RFC 6962), so no leaf is duplicated to fill a level.

A root alone could only say "something differs". So the digest string also carries the
(agreement id, version) pairs it covers; `verify --digest` recomputes, from today's rows,
the hash of each agreement's event at that version, rebuilds the root and compares. Later
events do not matter: the store may grow, but what was there must still be there, unchanged.

    ctd1.<number of agreements>.<root, 64 hex>.<base64url(zlib(16-byte id + varint version, sorted by id))>
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from uuid import UUID

DIGEST_PREFIX = "ctd1"
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
_ROOT = re.compile(r"^[0-9a-f]{64}$")
_PACKED = re.compile(r"^[A-Za-z0-9_-]+$")
_MAX_VARINT_BYTES = 10


class MalformedDigest(ValueError):
    """The text given as a digest is not one this tool wrote."""


@dataclass(frozen=True)
class Digest:
    """The heads an auditor's digest covers (agreement id hex -> version) and their Merkle root."""

    heads: dict[str, int]
    root: str

    def __str__(self) -> str:
        payload = b"".join(UUID(hex=a).bytes + _varint(v) for a, v in sorted(self.heads.items()))
        packed = base64.urlsafe_b64encode(zlib.compress(payload, 9)).decode("ascii").rstrip("=")
        return f"{DIGEST_PREFIX}.{len(self.heads)}.{self.root}.{packed}"


def leaf_hash(agreement_id: str, version: int, event_hash: str) -> bytes:
    return hashlib.sha256(LEAF_PREFIX + f"{agreement_id}:{version}:{event_hash}".encode("ascii")).digest()


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """The root over leaves already hashed and sorted; the empty tree is SHA-256 of nothing."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(NODE_PREFIX + merkle_root(leaves[:split]) + merkle_root(leaves[split:])).digest()


def root_of(heads: Mapping[str, int], hashes: Mapping[str, str]) -> str:
    """The root over each agreement's event hash at the version given, in agreement-id order."""
    return merkle_root([leaf_hash(a, heads[a], hashes[a]) for a in sorted(heads)]).hex()


def parse_digest(text: str) -> Digest:
    parts = text.strip().split(".")
    if len(parts) != 4 or parts[0] != DIGEST_PREFIX:
        msg = f"a digest looks like {DIGEST_PREFIX}.<count>.<root>.<heads>, as printed by `audit digest`"
        raise MalformedDigest(msg)
    _, count_text, root, packed = parts
    if not count_text.isdigit() or not _ROOT.match(root) or not _PACKED.match(packed):
        msg = "the digest's count or root is not well formed"
        raise MalformedDigest(msg)
    count = int(count_text)
    payload = _unpack(packed, count)
    heads: dict[str, int] = {}
    offset = 0
    previous = b""
    while offset < len(payload):
        raw_id = payload[offset:offset + 16]
        if len(raw_id) < 16 or raw_id <= previous:
            msg = "the digest's heads are truncated or out of order"
            raise MalformedDigest(msg)
        version, offset = _read_varint(payload, offset + 16)
        if version < 1:
            msg = "the digest names a version below 1"
            raise MalformedDigest(msg)
        heads[UUID(bytes=raw_id).hex] = version
        previous = raw_id
    if len(heads) != count:
        msg = f"the digest says it covers {count} agreements but carries {len(heads)}"
        raise MalformedDigest(msg)
    return Digest(heads, root)


def _unpack(packed: str, count: int) -> bytes:
    try:
        compressed = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4))
        inflater = zlib.decompressobj()
        # Never inflate more than the count allows: a digest is input, and input can be hostile.
        payload = inflater.decompress(compressed, count * (16 + _MAX_VARINT_BYTES) + 1)
    except (binascii.Error, ValueError, zlib.error):
        msg = "the digest's heads are not readable"
        raise MalformedDigest(msg) from None
    if not inflater.eof:
        msg = "the digest's heads are truncated or longer than its count"
        raise MalformedDigest(msg)
    return payload


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _read_varint(payload: bytes, offset: int) -> tuple[int, int]:
    value = shift = 0
    for index in range(offset, min(offset + _MAX_VARINT_BYTES, len(payload))):
        value |= (payload[index] & 0x7F) << shift
        if not payload[index] & 0x80:
            return value, index + 1
        shift += 7
    msg = "the digest's heads are truncated"
    raise MalformedDigest(msg)
