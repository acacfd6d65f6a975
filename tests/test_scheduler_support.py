"""Real servers and sample agreements for the scheduler tests: an SMTP server (aiosmtpd) and a webhook receiver
on loopback, both counting what they received."""

from __future__ import annotations

import email
import email.policy
import hashlib
import hmac
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from app import commands as c
from app.service import CommitmentService
from app.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
COMMITMENTS = str(ROOT / ".venv" / "bin" / "commitments")
WEBHOOK_SECRET = "test-webhook-secret-0123456789"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mailbox:
    """An aiosmtpd handler that keeps every accepted message; it answers 451 to the first `refuse_first` RCPTs."""

    def __init__(self, refuse_first: int = 0) -> None:
        self.messages: list[Message] = []
        self.logins: list[tuple[str, bool]] = []
        self.refused = 0
        self.refuse_first = refuse_first
        self._lock = threading.Lock()

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,  # noqa: N802
                          rcpt_options: list[str]) -> str:
        with self._lock:
            if self.refused < self.refuse_first:
                self.refused += 1
                return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        with self._lock:
            self.messages.append(email.message_from_bytes(content, policy=email.policy.default))
        return "250 Message accepted for delivery"

    def received(self) -> list[tuple[str, str]]:
        """(recipient, subject) of every message, in arrival order."""
        with self._lock:
            return [(str(m["To"]), str(m["Subject"])) for m in self.messages]


@contextmanager
def smtp_server(refuse_first: int = 0, tls: ssl.SSLContext | None = None,
                logins: dict[str, str] | None = None) -> Iterator[tuple[Mailbox, int]]:
    """With `tls`, the server offers STARTTLS and refuses mail until the client has started it. With `logins`
    (user: password), it also refuses mail until the client has logged in as one of them; every attempt is kept
    in `mailbox.logins` as (user, accepted)."""
    mailbox = Mailbox(refuse_first)
    auth: dict[str, Any] = {}
    if logins is not None:
        def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                         auth_data: Any) -> AuthResult:
            user = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else ""
            accepted = user in logins and logins[user] == auth_data.password.decode()
            mailbox.logins.append((user, accepted))
            return AuthResult(success=accepted, handled=False)  # not handled: aiosmtpd sends 235 or 535 itself

        auth = {"authenticator": authenticate, "auth_required": True}
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), tls_context=tls,
                            require_starttls=tls is not None, **auth)
    controller.start()
    try:
        yield mailbox, int(controller.port)
    finally:
        controller.stop()


@dataclass
class WebhookInbox:
    """What the webhook receiver got: each body, and whether its signature matched."""

    secret: bytes
    requests: list[tuple[bytes, bool]] = field(default_factory=list)


@contextmanager
def webhook_server(secret: str = WEBHOOK_SECRET) -> Iterator[tuple[WebhookInbox, str]]:
    inbox = WebhookInbox(secret.encode())

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            expected = "sha256=" + hmac.new(inbox.secret, body, hashlib.sha256).hexdigest()
            valid = hmac.compare_digest(expected, self.headers.get("X-Commitments-Signature", ""))
            inbox.requests.append((body, valid))
            self.send_response(204 if valid else 401)
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield inbox, f"http://127.0.0.1:{server.server_address[1]}/hooks/reminders"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 and its key, made by the openssl command; the certificate is its own CA."""
    cert, key = directory / "smtp.crt", directory / "smtp.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


def scheduler_settings(database_url: str, smtp_port: int = 25, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "smtp_port": smtp_port,
                              "webhook_secret": WEBHOOK_SECRET, "reminder_backoff_seconds": 0.05,
                              "scheduler_lock_wait_seconds": 30}
    return Settings(**{**values, **overrides})


def scheduler_env(settings: Settings) -> dict[str, str]:
    """The environment that gives a `commitments` process the same settings."""
    assert settings.webhook_secret is not None
    return {"COMMITMENTS_DATABASE_URL": settings.database_url, "COMMITMENTS_SMTP_PORT": str(settings.smtp_port),
            "COMMITMENTS_WEBHOOK_SECRET": settings.webhook_secret.get_secret_value(),
            "COMMITMENTS_REMINDER_BACKOFF_SECONDS": str(settings.reminder_backoff_seconds),
            "COMMITMENTS_REMINDER_LADDER": settings.reminder_ladder}


def sign_with_milestones(service: CommitmentService, ref: str, milestones: dict[str, tuple[date, str]]) -> None:
    """An agreement between LEAD (the lead party) and PARTNER, with milestones {id: (due_on, responsible)}."""
    service.sign(c.SignAgreement.model_validate({
        "ref": ref, "kind": "convention",
        "title": {"ar": "اتفاقية اختبار", "fr": "Convention de test", "en": "Test agreement"},
        "parties": [
            {"short_name": "LEAD", "role": "lead", "name": {"ar": "الوزارة", "fr": "Ministère", "en": "Ministry"}},
            {"short_name": "PARTNER", "name": {"ar": "الشريك", "fr": "Partenaire", "en": "Partner"}},
        ],
        "signed_on": "2025-11-03", "place": "Rabat", "occasion": "Test", "starts_on": "2025-11-03",
        "ends_on": "2030-12-31", "effective_on": "2025-11-03",
    }), actor="test")
    for milestone_id, (due_on, responsible) in milestones.items():
        service.plan_milestone(ref, c.PlanMilestone(
            milestone_id=milestone_id, title=f"Deliver {milestone_id}", due_on=due_on, responsible=responsible,
            kind="delivery", effective_on=date(2025, 11, 3)), actor="test")


def add_contact(service: CommitmentService, ref: str, party: str, channel: str, address: str) -> None:
    service.add_contact(ref, c.AddContact(party=party, channel=channel, address=address,
                                          effective_on=date(2025, 11, 3)), actor="test")


def event_types(service: CommitmentService, ref: str) -> list[str]:
    return [str(e["type"]) for e in service.history(ref)]


def reminders(service: CommitmentService, ref: str) -> list[dict[str, Any]]:
    return [e for e in service.history(ref) if e["type"] == "ReminderSent"]
