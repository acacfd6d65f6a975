"""Dependencies of the API routes: the backend, the calling user, and the write permission checks."""

from __future__ import annotations

import hashlib
from typing import Annotated, TypeVar

from fastapi import Depends, Header, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from app.api.backend import Backend
from app.commands import CommandMeta
from app.users import User

Command = TypeVar("Command", bound=CommandMeta)
RefPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$", description="The agreement's reference.")]
MilestonePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$", description="The milestone's id.")]

bearer = HTTPBearer(auto_error=False, description="A token from `commitments users add NAME --role ROLE`.")


def get_backend(request: Request) -> Backend:
    backend = request.app.state.backend
    assert isinstance(backend, Backend)
    return backend


BackendDep = Annotated[Backend, Depends(get_backend)]


def current_user(backend: BackendDep,
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> User:
    """The user holding the bearer token; 401 without a token or with an unknown or revoked one."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
    user = backend.users.authenticate(credentials.credentials)
    if user is None:
        raise HTTPException(401, "the token is unknown or revoked", headers={"WWW-Authenticate": "Bearer"})
    return user


UserDep = Annotated[User, Depends(current_user)]


def writer(user: UserDep) -> User:
    """Users who may write at all: admins and officials (auditors read only)."""
    if not user.can_write:
        raise HTTPException(403, f"{user.role}s read only; they cannot record facts")
    return user


WriterDep = Annotated[User, Depends(writer)]


def writer_of(ref: RefPath, user: WriterDep, backend: BackendDep) -> User:
    """Object-level authorization: the agreement must exist, and an official's organisation must be a party to it."""
    agreement = backend.service.agreement(ref)
    if not user.can_write_to(agreement.party_short_names):
        raise HTTPException(403, f"{user.org} is not a party to {ref}; an official writes only to their own agreements")
    return user


AgreementWriterDep = Annotated[User, Depends(writer_of)]

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="A retry with the same key returns the first response and writes nothing.",
)]


def with_idempotency(command: Command, key: str | None, user: User) -> Command:
    """The Idempotency-Key becomes the command id, scoped to the user so two users' keys never collide."""
    if key is None:
        return command
    digest = hashlib.sha256(f"{user.name}\n{key}".encode()).hexdigest()[:32]
    return command.model_copy(update={"command_id": f"http:{digest}"})
