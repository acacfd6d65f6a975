"""Delivery channels for reminders: email over SMTP, an HMAC-signed webhook, and the log; with bounded retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formatdate
from typing import Protocol
from urllib.parse import urlsplit

SIGNATURE_HEADER = "X-Commitments-Signature"
REMINDER_HEADER = "X-Commitments-Reminder"
# RFC 5322 allows 998 characters a line: the reminder key header stays one token on one line, never folded.
EMAIL_POLICY = SMTP_POLICY.clone(max_line_length=998)
log = logging.getLogger("commitments.reminders")


class DeliveryFailed(Exception):
    """One delivery attempt failed. `permanent` failures (bad configuration) are not retried."""

    def __init__(self, detail: str, *, permanent: bool = False) -> None:
        super().__init__(detail)
        self.permanent = permanent


@dataclass(frozen=True)
class ReminderMessage:
    """What a reminder says. `key` identifies it, so a receiver can drop a repeat."""

    agreement_ref: str
    milestone_id: str
    title: str
    due_on: date
    rung: str
    as_of: date
    recipient: str

    @property
    def key(self) -> str:
        return f"{self.agreement_ref}/{self.milestone_id}/{self.due_on.isoformat()}/{self.rung}/{self.recipient}"

    @property
    def overdue(self) -> bool:
        return self.due_on < self.as_of

    @property
    def subject(self) -> str:
        when = f"overdue since {self.due_on}" if self.overdue else f"due on {self.due_on}"
        return f"[commitments] {self.agreement_ref}: {self.milestone_id} {when}"

    @property
    def text(self) -> str:
        days = abs((self.as_of - self.due_on).days)
        status = f"is {days} day(s) overdue" if self.overdue else f"is due in {days} day(s)"
        return (f"Agreement: {self.agreement_ref}\nMilestone: {self.milestone_id} - {self.title}\n"
                f"Due on: {self.due_on}\nAs of {self.as_of} it {status}.\nReminder: {self.rung}\n")

    def payload(self) -> bytes:
        body = {"reminder": self.key, "agreement_ref": self.agreement_ref, "milestone_id": self.milestone_id,
                "title": self.title, "due_on": self.due_on.isoformat(), "as_of": self.as_of.isoformat(),
                "rung": self.rung, "recipient": self.recipient}
        return json.dumps(body, ensure_ascii=False, sort_keys=True).encode("utf-8")


class Channel(Protocol):
    """Delivers one message to one address, or raises DeliveryFailed."""

    def deliver(self, message: ReminderMessage, address: str) -> str: ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    sender: str
    starttls: bool = False
    user: str | None = None
    password: str | None = None
    timeout: float = 10.0
    ca_file: str | None = None


@dataclass(frozen=True)
class EmailChannel:
    """Email over SMTP, with a Message-ID derived from the reminder, so a repeat is recognisable."""

    config: SmtpConfig

    def deliver(self, message: ReminderMessage, address: str) -> str:
        email = EmailMessage(policy=EMAIL_POLICY)
        email["From"] = self.config.sender
        email["To"] = address
        email["Subject"] = message.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = f"<{hashlib.sha256(message.key.encode()).hexdigest()[:32]}@commitments>"
        email[REMINDER_HEADER] = message.key
        email.set_content(message.text)
        try:
            with smtplib.SMTP(self.config.host, self.config.port, timeout=self.config.timeout) as smtp:
                if self.config.starttls:
                    # Verify the server's certificate (smtplib's default context would not).
                    smtp.starttls(context=ssl.create_default_context(cafile=self.config.ca_file))
                if self.config.user:
                    smtp.login(self.config.user, self.config.password or "")
                smtp.send_message(email)
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryFailed(f"SMTP login refused: {e.smtp_code}", permanent=True) from None
        except (smtplib.SMTPException, OSError) as e:
            raise DeliveryFailed(f"SMTP {self.config.host}:{self.config.port}: {_one_line(e)}") from None
        return f"accepted by {self.config.host}:{self.config.port}"


def sign(secret: bytes, body: bytes) -> str:
    """The signature header's value: `sha256=` and the hex HMAC-SHA256 of the exact body bytes."""
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookChannel:
    """A JSON POST signed with HMAC-SHA256 over the body, in the X-Commitments-Signature header."""

    secret: bytes | None
    timeout: float = 10.0

    def deliver(self, message: ReminderMessage, address: str) -> str:
        if not self.secret:
            msg = "no webhook secret is configured (COMMITMENTS_WEBHOOK_SECRET)"
            raise DeliveryFailed(msg, permanent=True)
        if not address.startswith(("http://", "https://")):
            raise DeliveryFailed(f"webhook address must be an http(s) URL, got {address!r}", permanent=True)
        body = message.payload()
        request = urllib.request.Request(address, data=body, method="POST", headers={  # noqa: S310 (scheme checked above)
            "Content-Type": "application/json", SIGNATURE_HEADER: sign(self.secret, body),
            REMINDER_HEADER: message.key,
        })
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status = int(response.status)
        except urllib.error.HTTPError as e:
            raise DeliveryFailed(f"webhook {address} answered {e.code}", permanent=400 <= e.code < 500
                                 and e.code not in (408, 429)) from None
        except (urllib.error.URLError, OSError) as e:
            raise DeliveryFailed(f"webhook {address}: {_one_line(e)}") from None
        return f"webhook answered {status}"


@dataclass(frozen=True)
class LogChannel:
    """Writes the reminder to the application log (logger `commitments.reminders`)."""

    def deliver(self, message: ReminderMessage, address: str) -> str:
        log.info("reminder %s to %s: %s", message.rung, address, message.subject)
        return "logged"


@dataclass(frozen=True)
class RetryPolicy:
    """At most `attempts` tries, waiting `backoff_seconds`, then twice that, ... capped at `max_backoff_seconds`."""

    attempts: int = 3
    backoff_seconds: float = 2.0
    max_backoff_seconds: float = 60.0

    def wait_before(self, attempt: int) -> float:
        return float(min(self.backoff_seconds * 2 ** (attempt - 2), self.max_backoff_seconds))


@dataclass(frozen=True)
class Attempted:
    outcome: str  # "sent" or "failed"
    attempts: int
    detail: str
    exhausted: bool = False  # Failed every retry with a transient error: the endpoint looks down.


def deliver_with_retry(channel: Channel, message: ReminderMessage, address: str, policy: RetryPolicy,
                       sleep: Callable[[float], None]) -> Attempted:
    """Try, back off, try again; give up after the policy's attempts or at the first permanent failure."""
    detail = ""
    for attempt in range(1, policy.attempts + 1):
        if attempt > 1:
            sleep(policy.wait_before(attempt))
        try:
            return Attempted("sent", attempt, channel.deliver(message, address))
        except DeliveryFailed as e:
            detail = str(e)
            log.warning("reminder %s to %s failed (attempt %d): %s", message.rung, address, attempt, detail)
            if e.permanent:
                return Attempted("failed", attempt, detail)
    return Attempted("failed", policy.attempts, detail, exhausted=True)


def endpoint(channel: str, address: str) -> str:
    """What a delivery depends on: the one SMTP server for all email, each webhook's host, nothing for the log."""
    if channel == "webhook":
        return f"webhook:{urlsplit(address).netloc}"
    return channel


def _one_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]
