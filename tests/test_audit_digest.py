"""The auditor's digest: a Merkle root over the chain heads that proves later stores still hold everything it covered."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest

from app import commands as c
from app.audit import MalformedDigest, parse_digest, take_digest, verify_store
from app.audit.digest import Digest, leaf_hash, merkle_root
from app.service import CommitmentService
from domain.agreement import agreement_id
from tests.audit_support import Tamperer, demo_service

RAIL = "rail-test-platform"
REWRITTEN = ("the events the digest covers no longer hash to its root: one of them was rewritten "
             "(or the digest is not from this store)")


@pytest.fixture
def service(database_url: str) -> Iterator[CommitmentService]:
    with demo_service(database_url) as service:
        yield service


def digest_of(service: CommitmentService) -> Digest:
    report, digest = take_digest(service)
    assert report.ok
    assert digest is not None
    return digest


def found(service: CommitmentService, digest: Digest) -> list[tuple[str | None, int | None, str]]:
    return [(p.agreement, p.version, p.problem) for p in verify_store(service, digest).problems]


def test_a_digest_round_trips_through_its_text_and_verifies(service: CommitmentService) -> None:
    digest = digest_of(service)
    text = str(digest)
    assert text.startswith(f"ctd1.5.{digest.root}.")
    assert parse_digest(text) == digest
    assert digest.heads[agreement_id(RAIL).hex] == 5
    assert found(service, parse_digest(text)) == []


def test_the_store_may_grow_after_the_digest(service: CommitmentService) -> None:
    digest = digest_of(service)
    service.report_progress(RAIL, "feasibility-study", c.ReportProgress(percent=90, note="draft"), actor="t")
    assert found(service, digest) == []
    assert digest_of(service).root != digest.root


def test_a_deleted_latest_event_is_caught_by_the_digest_only(service: CommitmentService) -> None:
    digest = digest_of(service)
    Tamperer(service).delete(RAIL, 5)
    assert verify_store(service).ok  # the chain alone cannot see it
    assert found(service, digest) == [
        (RAIL, 5, "version 5, covered by the digest, is missing or unreadable (the chain now ends at version 4)")]


def test_a_consistently_rewritten_latest_event_is_caught_by_the_root(service: CommitmentService) -> None:
    digest = digest_of(service)
    tamper = Tamperer(service)
    _, state = tamper.forge(RAIL, 5, {"percent": 95})
    tamper.set_state(RAIL, 5, state)
    assert verify_store(service).ok  # every hash and link is consistent again
    assert found(service, digest) == [(None, None, REWRITTEN)]


def test_a_deleted_agreement_is_caught(service: CommitmentService) -> None:
    digest = digest_of(service)
    tamper = Tamperer(service)
    tamper.execute("DELETE FROM {table} WHERE originator_id=:oid", oid=tamper.oid(RAIL))
    oid = agreement_id(RAIL).hex
    assert found(service, digest) == [(oid, 5, "the agreement is gone: the digest covers it up to version 5")]


def test_no_digest_is_taken_of_a_broken_store(service: CommitmentService) -> None:
    Tamperer(service).delete(RAIL, 2)
    report, digest = take_digest(service)
    assert digest is None
    assert [(p.agreement, p.version) for p in report.problems] == [(RAIL, 3)]


def test_a_wrong_digest_fails_verification(service: CommitmentService) -> None:
    digest = digest_of(service)
    wrong_root = Digest(digest.heads, "0" * 64)
    assert found(service, wrong_root) == [(None, None, REWRITTEN)]
    older_head = Digest({**digest.heads, agreement_id(RAIL).hex: 4}, digest.root)
    assert found(service, older_head) == [(None, None, REWRITTEN)]
    unknown = agreement_id("never-signed").hex
    extra = Digest({**digest.heads, unknown: 1}, digest.root)
    assert found(service, extra) == [(unknown, 1, "the agreement is gone: the digest covers it up to version 1")]


@pytest.mark.parametrize("text", [
    "",
    "nonsense",
    "ctd2.1.{root}.{packed}",
    "ctd1.x.{root}.{packed}",
    "ctd1.1.{root}.{packed}.extra",
    "ctd1.5.{root}",
    "ctd1.5.ABC.{packed}",
    "ctd1.5.{root}.not*base64",
    "ctd1.5.{root}.AAAA",
    "ctd1.4.{root}.{packed}",
    "ctd1.6.{root}.{packed}",
])
def test_malformed_digests_are_refused(text: str) -> None:
    good = Digest({agreement_id(f"a-{i}").hex: i + 1 for i in range(5)}, "ab" * 32)
    _, _, root, packed = str(good).split(".")
    with pytest.raises(MalformedDigest):
        parse_digest(text.format(root=root, packed=packed))


def test_out_of_order_heads_are_refused() -> None:
    import base64
    import zlib

    ids = sorted(agreement_id(f"a-{i}").bytes for i in range(2))
    payload = ids[1] + b"\x01" + ids[0] + b"\x01"
    packed = base64.urlsafe_b64encode(zlib.compress(payload)).decode().rstrip("=")
    with pytest.raises(MalformedDigest, match="out of order"):
        parse_digest(f"ctd1.2.{'ab' * 32}.{packed}")


def test_large_versions_survive_the_varint() -> None:
    digest = Digest({agreement_id("a").hex: 1, agreement_id("b").hex: 300, agreement_id("c").hex: 2**40}, "cd" * 32)
    assert parse_digest(str(digest)) == digest


def test_the_merkle_tree_separates_leaves_from_nodes_and_splits_at_powers_of_two() -> None:
    def h(b: bytes) -> bytes:
        return hashlib.sha256(b).digest()

    leaves = [leaf_hash(f"{i:032x}", 1, "ee" * 32) for i in range(3)]
    assert leaves[0] == h(b"\x00" + f"{0:032x}:1:{'ee' * 32}".encode())
    assert merkle_root([]) == h(b"")
    assert merkle_root(leaves[:1]) == leaves[0]
    assert merkle_root(leaves[:2]) == h(b"\x01" + leaves[0] + leaves[1])
    assert merkle_root(leaves) == h(b"\x01" + h(b"\x01" + leaves[0] + leaves[1]) + leaves[2])
    # A tree of two leaves must not equal a single "leaf" made of their concatenation.
    assert merkle_root(leaves[:2]) != h(b"\x00" + leaves[0] + leaves[1])
