"""Paging and search for every dashboard list: a search box, one page fetched from the catalog with
offset/limit (the count and the page are two SQL queries; no list is ever loaded whole), and the page picker.

A list is drawn in three steps: ``search_box`` (its change sends the list back to page 1), ``fetch_page``
(reads the current page number from the session, clamps it when the list shrank, and calls the paged
service), then ``pager`` under the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

from infra.settings import get_settings

T = TypeVar("T")
Fetch = Callable[[int, int], tuple[int, list[T]]]  # (offset, limit) -> (total, rows)


def page_key(key: str) -> str:
    return f"{key}_page"


def page_size() -> int:
    return get_settings().dashboard.page_size


def pages_for(total: int, size: int) -> int:
    return max(1, -(-total // size))


def _back_to_first(key: str) -> None:
    st.session_state.pop(page_key(key), None)


def search_box(key: str, label: str = "Search", *, placeholder: str = "part of the name") -> str | None:
    """A search input whose change returns its list to page 1; None when empty."""
    value = st.text_input(
        label, key=f"{key}_search", placeholder=placeholder, on_change=_back_to_first, args=(key,)
    )
    return value.strip() or None


def current_page(key: str) -> int:
    value = st.session_state.get(page_key(key), 1)
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 1 else 1


def fetch_page(key: str, fetch: Fetch[T], *, size: int | None = None) -> tuple[int, list[T], int]:
    """(total, rows of the current page, page number). A page beyond the end (the list shrank since it was
    chosen) falls back to the last page."""
    size = size or page_size()
    number = current_page(key)
    total, rows = fetch((number - 1) * size, size)
    last = pages_for(total, size)
    if number > last:
        number = last
        st.session_state[page_key(key)] = number
        total, rows = fetch((number - 1) * size, size)
    return total, rows, number


def pager(key: str, total: int, *, noun: str = "item(s)", size: int | None = None) -> None:
    """The count and, when there is more than one page, the page picker."""
    size = size or page_size()
    last = pages_for(total, size)
    number = min(current_page(key), last)
    if last == 1:
        st.caption(f"{total} {noun}")
        return
    first = (number - 1) * size + 1
    st.caption(f"{total} {noun} · showing {first}–{min(total, number * size)} · page {number} of {last}")
    st.pagination(last, key=page_key(key))


def paged_list(
    key: str, fetch: Fetch[T], *, noun: str = "item(s)", size: int | None = None
) -> tuple[int, list[T]]:
    """``fetch_page`` then ``pager`` (for lists whose page picker may stand right under the count)."""
    total, rows, _ = fetch_page(key, fetch, size=size)
    pager(key, total, noun=noun, size=size)
    return total, rows


def slice_page(key: str, items: list[T], *, size: int | None = None) -> tuple[int, list[T]]:
    """A page of a list that is already in memory and small by nature (e.g. one job's MLflow runs)."""

    def fetch(offset: int, limit: int) -> tuple[int, list[T]]:
        return len(items), items[offset : offset + limit]

    return fetch_page(key, fetch, size=size)[:2]
