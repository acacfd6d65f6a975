"""Domain errors: every rule the Agreement aggregate enforces fails with one of these."""

from __future__ import annotations


class DomainError(Exception):
    """A command broke a rule of the domain. The message says which, in plain words."""


class RuleViolation(DomainError):
    """The command is well formed but not allowed in the agreement's current state."""


class InvalidValue(DomainError):
    """A value is out of its allowed range (for example a negative amount)."""


class AgreementClosed(RuleViolation):
    """The agreement is terminated or completed and takes no new commitments."""


class OverDisbursement(RuleViolation):
    """A disbursement would exceed what was allocated."""


class TermNotExtended(RuleViolation):
    """An extension must move the end of the term later."""


class UnknownMilestone(DomainError):
    """No milestone with that id is planned on the agreement."""


class MilestoneClosed(RuleViolation):
    """The milestone is completed or cancelled."""


class DuplicateMilestone(RuleViolation):
    """A milestone with that id is already planned."""


class UnknownParty(DomainError):
    """The named organisation is not a party to the agreement."""


class AlreadyFlagged(RuleViolation):
    """The milestone was already flagged overdue for that due date."""


class AlreadyReminded(RuleViolation):
    """That reminder was already delivered."""


class UnknownVersion(DomainError):
    """A correction names a version that holds no such fact."""
