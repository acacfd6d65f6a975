"""Users of the API and web UI: roles, organisations and bearer tokens, kept append-only beside the events.

A token is shown once, when it is issued, and stored only as its SHA-256 hash. Revoking a user appends a
revocation row; nothing stored is updated or deleted.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

from sqlalchemy import (
    Column,
    DateTime,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from app.errors import ApplicationError
from app.ledger import schema_lock, sqlalchemy_url

Role = Literal["admin", "official", "auditor"]
ROLES: tuple[str, ...] = get_args(Role)
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,79}$")
TOKEN_PREFIX = "ct_"  # noqa: S105 - a prefix that makes tokens recognisable, not a secret

metadata = MetaData()

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False, index=True),
    Column("role", String(16), nullable=False),
    Column("org", String(80), nullable=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

api_token_revocations = Table(
    "api_token_revocations", metadata,
    Column("token_id", Integer, ForeignKey("api_tokens.id"), primary_key=True),
    Column("revoked_at", DateTime(timezone=True), nullable=False),
)


class UserError(ApplicationError):
    """A user command that cannot be carried out (bad name, unknown user, user already active)."""


@dataclass(frozen=True)
class User:
    """Who is calling: the name recorded as the actor, the role, and for an official the organisation."""

    name: str
    role: str
    org: str | None
    token_id: int
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def actor(self) -> str:
        return f"user:{self.name}"

    def can_write_to(self, parties: list[str]) -> bool:
        """Object-level authorization: admins write anywhere, officials only where their organisation is a party."""
        if self.role == "admin":
            return True
        return self.role == "official" and self.org is not None and self.org in parties

    @property
    def can_write(self) -> bool:
        return self.role in ("admin", "official")

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name, "role": self.role, "org": self.org,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "active": self.revoked_at is None,
        }


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class UserStore:
    """Issues, checks, lists and revokes tokens in the project's own database."""

    def __init__(self, database_url: str, *, engine: Engine | None = None) -> None:
        self.engine = engine or create_engine(sqlalchemy_url(database_url), pool_pre_ping=True)
        self._owns_engine = engine is None
        # Issue 7: processes starting together on an empty PostgreSQL take turns creating the tables
        # (two concurrent CREATE TABLE can fail with "type ... already exists").
        with schema_lock(database_url):
            metadata.create_all(self.engine, checkfirst=True)

    def close(self) -> None:
        if self._owns_engine:
            self.engine.dispose()

    def add(self, name: str, role: str, org: str | None = None) -> tuple[User, str]:
        """A new user with a fresh token; the token is returned here and never again."""
        if not NAME_PATTERN.match(name):
            msg = f"a user name is 1-80 letters, digits, '_', '.', '@' or '-', got {name!r}"
            raise UserError(msg)
        if role not in ROLES:
            msg = f"role must be one of {', '.join(ROLES)}, got {role!r}"
            raise UserError(msg)
        if role == "official" and not org:
            msg = "an official needs --org SHORT_NAME (the organisation they write for)"
            raise UserError(msg)
        if role != "official" and org:
            msg = f"--org applies to officials only, not to an {role}"
            raise UserError(msg)
        if any(u.name == name and u.revoked_at is None for u in self.list()):
            msg = f"user {name} already has an active token; revoke it first"
            raise UserError(msg)
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        created_at = datetime.now(tz=UTC)
        try:
            with self.engine.begin() as conn:
                token_id = conn.execute(api_tokens.insert().values(
                    name=name, role=role, org=org, token_sha256=token_hash(token), created_at=created_at,
                )).inserted_primary_key[0]  # type: ignore[index]
        except IntegrityError:
            msg = "could not store the new token; try again"
            raise UserError(msg) from None
        return User(name, role, org, int(token_id), created_at), token

    def list(self) -> list[User]:
        """Every token ever issued, oldest first, with its revocation if any."""
        query = (
            select(api_tokens, api_token_revocations.c.revoked_at)
            .outerjoin(api_token_revocations, api_token_revocations.c.token_id == api_tokens.c.id)
            .order_by(api_tokens.c.id)
        )
        with self.engine.connect() as conn:
            return [self._user(row._mapping) for row in conn.execute(query)]

    def revoke(self, name: str) -> int:
        """Revoke every active token of a user; returns how many were revoked."""
        active = [u for u in self.list() if u.name == name and u.revoked_at is None]
        if not active:
            msg = f"no active user named {name!r}"
            raise UserError(msg)
        now = datetime.now(tz=UTC)
        with self.engine.begin() as conn:
            conn.execute(api_token_revocations.insert(), [{"token_id": u.token_id, "revoked_at": now} for u in active])
        return len(active)

    def authenticate(self, token: str) -> User | None:
        """The active user holding this token, or None."""
        return self.by_hash(token_hash(token))

    def by_hash(self, digest: str) -> User | None:
        query = (
            select(api_tokens, api_token_revocations.c.revoked_at)
            .outerjoin(api_token_revocations, api_token_revocations.c.token_id == api_tokens.c.id)
            .where(api_tokens.c.token_sha256 == digest)
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        user = self._user(row._mapping)
        return user if user.revoked_at is None else None

    @staticmethod
    def _user(row: object) -> User:
        values: dict[str, object] = dict(row)  # type: ignore[call-overload]
        return User(
            name=str(values["name"]), role=str(values["role"]),
            org=None if values["org"] is None else str(values["org"]),
            token_id=int(values["id"]),  # type: ignore[call-overload]
            created_at=_aware(values["created_at"]),  # type: ignore[arg-type]
            revoked_at=None if values["revoked_at"] is None else _aware(values["revoked_at"]),  # type: ignore[arg-type]
        )


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; they were stored in UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
