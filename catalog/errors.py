"""Errors raised by catalog services. Each carries a message meant for the user, as is."""

from __future__ import annotations


class CatalogError(Exception):
    """Base of every catalog error."""


class NotFoundError(CatalogError):
    """The resource does not exist *or the actor may not see it*: both read exactly the same."""

    def __init__(self, kind: str, ident: object) -> None:
        super().__init__(f"{kind} {ident!r} not found")
        self.kind = kind
        self.ident = ident


class ValidationError(CatalogError):
    """Input refused; the message says what is wrong and where."""


class ConflictError(CatalogError):
    """The request conflicts with the current state (duplicate name, already running, in use...)."""


class PermissionDeniedError(CatalogError):
    """The actor is known but may not perform this action (e.g. a non-admin disabling an algorithm)."""


class AuthenticationError(PermissionDeniedError):
    """Who is asking could not be established (not signed in, session expired, password needed)."""
