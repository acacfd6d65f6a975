"""What every write route shares: its OpenAPI shape, and the answer it gives once the write is readable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter

from app.api.backend import Backend
from app.api.errors import WRITE_ERRORS
from app.api.schemas import WriteOut
from app.service import WriteResult


def write_route(router: APIRouter, path: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A POST that records one fact: 201 with {ref, version, position}, or one of the documented errors."""
    return router.post(path, status_code=201, response_model=WriteOut, responses=WRITE_ERRORS)


def written(backend: Backend, result: WriteResult) -> WriteOut:
    """The write's answer: the agreement, its new version and the write's position in the log."""
    return WriteOut(**backend.written(result).as_dict())
