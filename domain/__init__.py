"""The domain of commitment-tracker: the Agreement aggregate, its events, values and rules. Pure: no I/O."""

from domain.agreement import Agreement, agreement_id, reminder_key
from domain.errors import DomainError
from domain.values import Milestone, Recorded

__all__ = ["Agreement", "DomainError", "Milestone", "Recorded", "agreement_id", "reminder_key"]
