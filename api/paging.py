"""Paged lists: ``?offset=&limit=&q=`` in, ``{"items", "total", "offset", "limit"}`` out (as the dashboard pages)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel

from infra.settings import get_settings
from mlops_lite.schemas.common import Page

__all__ = ["Page", "PageDep", "PageParams", "Window", "WindowDep"]


class PageParams(BaseModel):
    offset: int
    limit: int
    q: str | None


def page_params(
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Rows to return (at most MLOPS_API_MAX_PAGE_SIZE).")
    ] = 50,
    q: Annotated[str | None, Query(max_length=200, description="Search text (names contain it).")] = None,
) -> PageParams:
    return PageParams(offset=offset, limit=min(limit, get_settings().api.max_page_size), q=q or None)


PageDep = Annotated[PageParams, Depends(page_params)]


class Window(BaseModel):
    """A page of a list that has no search: ``?offset=&limit=``."""

    offset: int
    limit: int


def window_params(
    offset: Annotated[int, Query(ge=0, le=10_000_000, description="Rows to skip.")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=1000, description="Rows to return (at most MLOPS_API_MAX_PAGE_SIZE).")
    ] = 50,
) -> Window:
    return Window(offset=offset, limit=min(limit, get_settings().api.max_page_size))


WindowDep = Annotated[Window, Depends(window_params)]
