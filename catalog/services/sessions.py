"""Signed session tokens (the dashboard's URL token): their key and their revocation.

A token is signed with HMAC-SHA256 under a key derived from the server secret (``MLOPS_SECRET_KEY``, per
install) *and* the user's current password hash: reading the catalog alone (which holds the hash) is not
enough to mint one, and a password change invalidates every token of that user. A signed-out token is kept
in ``revoked_token`` (its SHA-256 only) until it would have expired, so a sign-out holds in every process
and across restarts.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from sqlalchemy import delete
from sqlmodel import Session, col

from catalog.models import RevokedToken
from catalog.models.base import utcnow
from infra.settings import get_settings


def signing_key(password_hash: str, purpose: str) -> bytes:
    """The key of one user's tokens for one purpose ("dashboard", "cli"): never the same for two purposes,
    so a token of one kind is not accepted as the other."""
    secret = get_settings().platform.secret_key.encode()
    return hmac.new(secret, f"mlops-session\0{purpose}\0{password_hash}".encode(), hashlib.sha256).digest()


def sign(payload: bytes, *, password_hash: str, purpose: str) -> bytes:
    return hmac.new(signing_key(password_hash, purpose), payload, hashlib.sha256).digest()


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def revoke(session: Session, *, token: str, expires_at: float) -> None:
    """Refuse ``token`` from now on (until ``expires_at``, a Unix time, after which it is refused anyway)."""
    now = utcnow()
    # Expired revocations are useless: forgetting them keeps the table as small as the live sign-outs.
    session.exec(delete(RevokedToken).where(col(RevokedToken.expires_at) < now))  # type: ignore[call-overload]
    digest = token_digest(token)
    if session.get(RevokedToken, digest) is None:
        session.add(RevokedToken(digest=digest, expires_at=datetime.fromtimestamp(expires_at, UTC)))


def is_revoked(session: Session, *, token: str) -> bool:
    return session.get(RevokedToken, token_digest(token)) is not None
