"""Dependencies of the API routes: the backend, the calling user, and the write permission checks."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, TypeVar

from fastapi import Depends, Header, HTTPException, Path, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ValidationError

from app.api.backend import Backend
from app.api.errors import validation_detail
from app.commands import CommandMeta
from app.users import User

Command = TypeVar("Command", bound=CommandMeta)
RefPath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9-]{1,79}$", description="The agreement's reference.")]
MilestonePath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$", description="The milestone's id.")]

bearer = HTTPBearer(auto_error=False, description="A token from `commitments users add NAME --role ROLE`.")


def known_query_only(request: Request) -> None:
    """Unknown query parameters are refused (422), as unknown body fields are: a typo must not pass silently."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise HTTPException(422, f"unknown query parameter(s): {', '.join(unknown)}")


def _query_names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


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
    if not user.can_write_to(backend.service.parties(ref)):
        raise HTTPException(403, f"{user.org} is not a party to {ref}; an official writes only to their own agreements")
    return user


async def strict_body(request: Request) -> None:
    """The body, validated again in strict JSON mode, so it must match the published schema exactly.

    Pydantic's lax mode would read a JSON number 0 as the date 1970-01-01, or "50" as the integer 50. JSON Schema
    counts 1.0 as an integer, so integral numbers are read as integers first.
    """
    route = request.scope.get("route")
    body_field = getattr(route, "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return
    try:
        body = json.loads(await request.body(), parse_float=_integral_as_int)
        model.model_validate_json(json.dumps(body), strict=True)
    except ValidationError as e:
        raise HTTPException(422, validation_detail([{**p, "loc": ("body", *p["loc"])} for p in e.errors()])) from None
    except ValueError:
        return  # not JSON: FastAPI's own parsing has already answered that


def _integral_as_int(text: str) -> int | float:
    number = float(text)
    return int(number) if number.is_integer() else number


async def strict_writer(request: Request, user: WriterDep) -> User:
    await strict_body(request)
    return user


async def strict_writer_of(request: Request, user: Annotated[User, Depends(writer_of)]) -> User:
    """Checks in order: a token (401), a role that writes (403), the agreement (404), a party to it (403), the body (422)."""
    await strict_body(request)
    return user


AgreementWriterDep = Annotated[User, Depends(strict_writer_of)]
SigningWriterDep = Annotated[User, Depends(strict_writer)]

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
