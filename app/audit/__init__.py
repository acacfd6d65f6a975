"""Audit: verify every hash chain straight from the stored rows, and take or check an auditor's digest."""

from __future__ import annotations

from typing import Any

from app.audit.digest import Digest, MalformedDigest, parse_digest, root_of
from app.audit.snapshots import snapshot_problems
from app.audit.store import stored_rows
from app.audit.verify import ChainVerifier, Problem, Report, decoder_of

__all__ = ["Digest", "MalformedDigest", "Problem", "Report", "parse_digest", "take_digest", "verify_store"]


def _verifier(service: Any, covered: dict[str, int] | None = None) -> ChainVerifier:
    return ChainVerifier(decoder_of(service.ledger.mapper), covered)


def _rows(service: Any) -> Any:
    return stored_rows(service.settings.database_url, service.ledger.events_table)


def _checked(service: Any, covered: dict[str, int] | None = None) -> Report:
    """Every chain, then every snapshot against a replay of its (verified) events."""
    report = _verifier(service, covered).check_all(_rows(service))
    report.problems.extend(snapshot_problems(service, report))
    return report


def verify_store(service: Any, digest: Digest | None = None) -> Report:
    """Recompute every chain; with a digest, also prove that every head it covers is still there, unchanged."""
    report = _checked(service, digest.heads if digest else None)
    if digest is not None:
        report.problems.extend(_digest_problems(report, digest))
    return report


def take_digest(service: Any) -> tuple[Report, Digest | None]:
    """A digest over the heads of all chains, taken only if every chain verifies (a digest must not bless a broken store)."""
    report = _checked(service)
    if not report.ok:
        return report, None
    heads = {a: h.version for a, h in report.heads.items()}
    hashes = {a: h.content_hash for a, h in report.heads.items()}
    return report, Digest(heads, root_of(heads, hashes))


def _digest_problems(report: Report, digest: Digest) -> list[Problem]:
    problems: list[Problem] = []
    for agreement, version in sorted(digest.heads.items()):
        if agreement in report.covered_hashes:
            continue
        head = report.heads.get(agreement)
        if head is None:
            what = f"the agreement is gone: the digest covers it up to version {version}"
            problems.append(Problem(agreement, agreement, version, None, what))
        else:
            what = (f"version {version}, covered by the digest, is missing or unreadable "
                    f"(the chain now ends at version {head.version})")
            problems.append(Problem(head.ref or agreement, agreement, version, None, what))
    if not problems and root_of(digest.heads, report.covered_hashes) != digest.root:
        problems.append(Problem(None, None, None, None,
                                "the events the digest covers no longer hash to its root: one of them was rewritten "
                                "(or the digest is not from this store)"))
    return problems
