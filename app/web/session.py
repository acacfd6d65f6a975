"""The web session: a signed, HTTP-only cookie holding the signed-in token's hash and the CSRF secret.

The cookie is `base64(json).base64(hmac-sha256)`; a cookie that does not verify, or is older than the
configured age, counts as no session. The token itself never goes into the cookie, only its hash, so a
revoked token stops working on its next request.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

COOKIE_NAME = "ct_session"


@dataclass
class Session:
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    token_sha256: str | None = None
    issued_at: int = field(default_factory=lambda: int(time.time()))

    def csrf_matches(self, submitted: str | None) -> bool:
        return submitted is not None and hmac.compare_digest(self.csrf.encode(), submitted.encode())


class SessionSigner:
    def __init__(self, secret: str, max_age: int) -> None:
        self.key = hashlib.sha256(b"commitments-session\n" + secret.encode()).digest()
        self.max_age = max_age

    def dumps(self, session: Session) -> str:
        payload = json.dumps({"c": session.csrf, "t": session.token_sha256, "i": session.issued_at},
                             separators=(",", ":")).encode()
        body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
        return f"{body}.{self._sign(body)}"

    def loads(self, cookie: str | None) -> Session | None:
        if not cookie or cookie.count(".") != 1:
            return None
        body, signature = cookie.split(".")
        if not hmac.compare_digest(signature, self._sign(body)):
            return None
        try:
            values = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            session = Session(csrf=str(values["c"]), token_sha256=values["t"], issued_at=int(values["i"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            return None
        if session.issued_at + self.max_age < time.time():
            return None
        return session

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
