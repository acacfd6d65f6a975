"""Query parameters shared by the read routes: paging with a capped page size (a larger `limit` is 422), and dates."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Annotated, TypeVar

from fastapi import Depends, Query, Request
from pydantic import BeforeValidator

MAX_PAGE_SIZE = 100
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int

    def slice(self, items: list[T]) -> list[T]:
        return items[self.offset:self.offset + self.limit]


def page(request: Request,
         offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")] = 0,
         limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size (at most 100).")] = 50) -> Page:
    # A deployment may cap pages lower than the schema's 100 (COMMITMENTS_API_MAX_PAGE_SIZE).
    return Page(offset, min(limit, request.app.state.backend.settings.api_max_page_size))


PageDep = Annotated[Page, Depends(page)]

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date_only(value: object) -> object:
    # Pydantic's lax mode would read "0" as 1970-01-01 (a Unix time); a date in a URL is YYYY-MM-DD.
    if isinstance(value, str) and not _ISO_DATE.match(value):
        msg = "a date is written YYYY-MM-DD"
        raise ValueError(msg)
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_only)]
