"""How errors leave the API: JSON `{"detail": "one line"}` with the status each kind of error deserves."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.api.backend import DATABASE_ERRORS
from app.errors import AgreementExists, AgreementNotFound, ApplicationError, ConcurrencyConflict, StaleVersion
from app.users import UserError
from domain.errors import DomainError, InvalidValue, RuleViolation, UnknownMilestone, UnknownParty

log = logging.getLogger(__name__)

STATUS_OF: tuple[tuple[type[Exception], int], ...] = (
    (AgreementNotFound, 404),
    (UnknownMilestone, 404),
    (AgreementExists, 409),
    (ConcurrencyConflict, 409),
    (StaleVersion, 409),  # issue 7: the client's expected_version is stale
    (RuleViolation, 409),
    (UnknownParty, 409),  # well formed, but the agreement has no such party: a conflict with its state
    (InvalidValue, 422),
    (DomainError, 422),
    (UserError, 422),
    (ApplicationError, 422),
)


class ErrorOut(BaseModel):
    detail: str


def status_of(error: Exception) -> int:
    for kind, status in STATUS_OF:
        if isinstance(error, kind):
            return status
    return 500


def validation_detail(errors: Any) -> str:
    """Pydantic's error list as one line: `body.percent: Input should be ...; query.limit: ...`."""
    parts = []
    for problem in errors:
        where = ".".join(str(p) for p in problem.get("loc", ())) or "input"
        parts.append(f"{where}: {problem.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid input"


def _first_line(error: Exception) -> str:
    text = str(error)
    return text.splitlines()[0] if text else type(error).__name__


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    methods: set[str] = set()
    for route in app.routes:
        if isinstance(route, APIRoute) and route.path_regex.match(path):
            methods |= route.methods or set()
    return sorted(methods)


def install_error_handlers(app: FastAPI) -> None:
    async def domain_error(request: Request, error: Exception) -> JSONResponse:
        return JSONResponse({"detail": _first_line(error)}, status_code=status_of(error))

    async def invalid_request(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, RequestValidationError)
        return JSONResponse({"detail": validation_detail(error.errors())}, status_code=422)

    async def http_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, StarletteHTTPException)
        headers = dict(error.headers or {})
        if error.status_code == 405:
            # Starlette names only the first matching route's methods; a path can have a GET and a POST route.
            headers["Allow"] = ", ".join(allowed_methods(app, request.url.path))
        return await http_exception_handler(request, StarletteHTTPException(error.status_code, error.detail, headers))

    async def database_unavailable(request: Request, error: Exception) -> JSONResponse:
        log.error("database unavailable during %s %s: %s", request.method, request.url.path, error)
        return JSONResponse({"detail": "the database is unavailable; try again later"}, status_code=503)

    for kind in DATABASE_ERRORS:
        app.add_exception_handler(kind, database_unavailable)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(ApplicationError, domain_error)
    app.add_exception_handler(RequestValidationError, invalid_request)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer with."""
    described = {400: "Bad request", 401: "No token, or a bad one", 403: "Not allowed for this user",
                 404: "No such agreement or milestone", 409: "Conflicts with the agreement's state",
                 413: "Request body too large", 422: "Invalid input", 501: "Not available"}
    return {s: {"model": ErrorOut, "description": described[s]} for s in statuses}


READ_ERRORS = responses(401, 404, 422)
WRITE_ERRORS = responses(400, 401, 403, 404, 409, 413, 422)
