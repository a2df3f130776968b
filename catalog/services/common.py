"""Helpers shared by the services: conditional status updates, unique inserts, paging, names."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select
from sqlmodel import Session, SQLModel, func, select

from catalog.errors import ConflictError, ValidationError, quote
from catalog.models.base import utcnow
from mlops_lite.schemas.common import NAME_PATTERN

_NAME_RE = re.compile(NAME_PATTERN)


def check_name(value: str, *, what: str = "name") -> str:
    value = (value or "").strip()
    if not _NAME_RE.match(value):
        raise ValidationError(
            f"{what} {quote(value)} is invalid: use 1-200 letters, digits, spaces, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


def flush_unique(session: Session, message: str) -> None:
    """Flush in a savepoint so a unique violation becomes a ConflictError and the transaction lives on."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise ConflictError(message) from None


def transition(
    session: Session,
    model: type[SQLModel],
    ident: int,
    *,
    from_statuses: Iterable[str],
    to_status: str,
    values: dict[str, Any] | None = None,
    status_column: str = "status",
    where: Iterable[Any] = (),
) -> bool:
    """Conditional status update: ``UPDATE ... SET status=to WHERE id=ident AND status IN from``.

    ``where`` adds conditions checked in the same statement (e.g. "the algorithm is still enabled").
    Returns whether this caller won. Concurrent callers race on the database, not in Python, so exactly
    one of them sees True.
    """
    column = getattr(model, status_column)
    stmt = (
        update(model)
        .where(model.id == ident)  # type: ignore[attr-defined]
        .where(column.in_([str(s) for s in from_statuses]))
        .where(*where)
        .values({status_column: str(to_status), "updated_at": utcnow(), **(values or {})})
        .execution_options(synchronize_session=False)
    )
    result = session.exec(stmt)  # type: ignore[call-overload]
    return bool(result.rowcount == 1)


def page(
    session: Session, stmt: Select[Any], *, offset: int, limit: int, order_by: Any
) -> tuple[int, list[Any]]:
    """Total count and one page of a scoped SELECT."""
    if limit < 1 or limit > 1000:
        raise ValidationError("limit must be between 1 and 1000")
    if offset < 0:
        raise ValidationError("offset must not be negative")
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(order_by).offset(offset).limit(limit)).all()
    return int(total), list(rows)
