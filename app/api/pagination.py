"""Paging of list answers, with a capped page size (a larger `limit` is refused with 422)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeVar

from fastapi import Depends, Query

MAX_PAGE_SIZE = 100
T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int

    def slice(self, items: list[T]) -> list[T]:
        return items[self.offset:self.offset + self.limit]


def page(offset: Annotated[int, Query(ge=0, le=1_000_000, description="Items to skip.")] = 0,
         limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Page size (at most 100).")] = 50) -> Page:
    return Page(offset, limit)


PageDep = Annotated[Page, Depends(page)]
