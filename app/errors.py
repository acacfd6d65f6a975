"""Errors the application service raises besides the domain's own (each maps to one HTTP status)."""

from __future__ import annotations


class ApplicationError(Exception):
    """A request the service cannot carry out; the message says why in one line."""


class AgreementNotFound(ApplicationError):
    """No agreement has that reference (HTTP 404)."""


class AgreementExists(ApplicationError):
    """An agreement with that reference is already signed (HTTP 409)."""


class ConcurrencyConflict(ApplicationError):
    """Other writers kept changing the agreement; the command was retried and gave up (HTTP 409)."""

    def __init__(self, ref: str) -> None:
        super().__init__(f"agreement {ref} kept changing under concurrent writes; try again")


class StaleVersion(ApplicationError):
    """The client's expected version is not the agreement's current version: it acted on stale state (HTTP 409)."""

    def __init__(self, ref: str, expected: int, actual: int) -> None:
        super().__init__(f"agreement {ref} is at version {actual}, not the expected version {expected}; reload and try again")
        self.expected = expected
        self.actual = actual
