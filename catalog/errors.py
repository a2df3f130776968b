"""Errors raised by catalog services. Each carries a message meant for the user, as is.

A value of the user's input appears in a message only through ``quote``: a short excerpt with its full length,
so that a message is never the size of the input (a 200 MB cell, a header of 80,000 names).
"""

from __future__ import annotations

from algorithms.params.values import quote  # the algorithms' own: one way to quote, on both sides


def shorten(message: str, limit: int = 1000) -> str:
    """A whole message cut to ``limit`` characters (with its full length): the backstop at the edges (CLI)
    for messages that quote input without ``quote``, such as a library's (``float('…')``'s quotes it whole)."""
    return message if len(message) <= limit else f"{message[:limit]}… ({len(message)} characters)"


class CatalogError(Exception):
    """Base of every catalog error."""


class NotFoundError(CatalogError):
    """The resource does not exist *or the actor may not see it*: both read exactly the same."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {quote(ident)} not found")
        self.kind = kind
        self.ident = ident


class ValidationError(CatalogError):
    """Input refused; the message says what is wrong and where."""


class ConflictError(CatalogError):
    """The request conflicts with the current state (duplicate name, already running, in use...)."""


class QuotaExceededError(ConflictError):
    """Starting or storing this would exceed a team's quota; the message names the quota, the limit and the
    current use (catalog.services.quotas)."""


class PermissionDeniedError(CatalogError):
    """The actor is known but may not perform this action (e.g. a non-admin disabling an algorithm)."""


class AuthenticationError(PermissionDeniedError):
    """Who is asking could not be established (not signed in, session expired, password needed)."""
