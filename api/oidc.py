"""OIDC bearer tokens: JWTs of the configured issuer (``MLOPS_API_OIDC_*``), verified here, acting as a user.

``api.deps`` hands every bearer token that is not a platform token (``mlops_…``) to ``username_for`` when an
issuer is configured. A token is accepted only when all of this holds:
- at most ``MAX_TOKEN_CHARS`` characters, three dot-separated parts (checked before anything is decoded);
- signed with RS256 or ES256 (never ``none`` nor HS*: an HMAC "verified" with the issuer's public key would
  let anyone sign), by a key of the issuer's JWKS named by the token's ``kid`` and meant for that algorithm.
  Keys come only from the issuer's discovery document (``<issuer>/.well-known/openid-configuration`` →
  ``jwks_uri``, https or loopback http, no redirects), never from the token (``jku``, ``x5u``, ``jwk`` are
  ignored);
- ``iss`` is exactly the issuer, ``aud`` holds the audience, ``exp`` is in the future and ``iat``/``nbf`` are
  not (``LEEWAY_SECONDS`` of clock skew), ``sub`` is present.
Keys are cached ``MLOPS_API_OIDC_JWKS_CACHE_SECONDS``; a ``kid`` not in the cache (a key rotation) fetches
them again, at most once per ``MLOPS_API_OIDC_JWKS_REFETCH_SECONDS`` (failed fetches included), so made-up
key ids cannot make the API hammer the issuer. Fetches are short (``FETCH_TIMEOUT``) and bounded
(``MAX_DOCUMENT_BYTES``, ``MAX_KEYS``).

Which user the identity is — found by subject, linked to an administrator-created user, or created — is
``catalog.services.oidc_users`` (its docstring gives the linking rule and why administrators are never
linked). Every refusal is a 401 with one message naming the reason, never the token or its contents; keys
that cannot be fetched are a 503 (the issuer's trouble, not the token's: a client should retry, not sign in).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt import PyJWK
from sqlmodel import Session

from api.errors import ApiError
from catalog.errors import AuthenticationError
from catalog.services import oidc_users
from infra.settings import ApiSettings, get_settings
from infra.settings.api import insecure_url

log = logging.getLogger("mlops.api")

ALGORITHMS = ("RS256", "ES256")
MAX_TOKEN_CHARS = 8192  # real ID and access tokens are 1-2 KB; a bigger one is not worth decoding
MAX_KID_CHARS = 200
MAX_DOCUMENT_BYTES = 256 * 1024
MAX_KEYS = 100
MIN_RSA_BITS = 2048
LEEWAY_SECONDS = 30
FETCH_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
REFUSED = "OIDC token refused: "


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched (the message says why, without secrets)."""


def refuse(reason: str) -> ApiError:
    return ApiError(401, REFUSED + reason)


# ---------------------------------------------------------------- keys


def _get_json(http: httpx.Client, url: str, what: str) -> dict[str, Any]:
    try:
        with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise KeysUnavailable(f"the issuer's {what} answered HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_DOCUMENT_BYTES:
                raise KeysUnavailable(f"the issuer's {what} is larger than {MAX_DOCUMENT_BYTES} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_DOCUMENT_BYTES:
                    raise KeysUnavailable(f"the issuer's {what} is larger than {MAX_DOCUMENT_BYTES} bytes")
    except httpx.HTTPError as exc:
        raise KeysUnavailable(f"the issuer's {what} could not be fetched ({type(exc).__name__})") from None
    try:
        document = json.loads(body)
    except ValueError:
        raise KeysUnavailable(f"the issuer's {what} is not JSON") from None
    if not isinstance(document, dict):
        raise KeysUnavailable(f"the issuer's {what} is not a JSON object")
    return document


def parse_jwks(document: dict[str, Any]) -> dict[str, PyJWK]:
    """The usable signing keys of a JWKS by ``kid``: RS256 (public RSA of at least ``MIN_RSA_BITS``) or ES256
    (public P-256) keys with an id; any other key is skipped. KeysUnavailable when none is left."""
    entries = document.get("keys")
    if not isinstance(entries, list) or len(entries) > MAX_KEYS:
        raise KeysUnavailable(f"the issuer's JWKS has no list of at most {MAX_KEYS} keys")
    keys: dict[str, PyJWK] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_CHARS:
            continue
        try:
            key = PyJWK(entry)
        except Exception:  # noqa: BLE001, S112 (a malformed key is skipped, whatever the library raises)
            continue
        if key.algorithm_name not in ALGORITHMS:
            continue
        if isinstance(key.key, rsa.RSAPublicKey):
            if key.key.key_size < MIN_RSA_BITS:
                continue
        elif not (isinstance(key.key, ec.EllipticCurvePublicKey) and key.key.curve.name == "secp256r1"):
            continue  # ES256 is P-256 only; and a private key in a JWKS is a misconfigured issuer
        keys[kid] = key
    if not keys:
        raise KeysUnavailable("the issuer's JWKS has no usable RS256 or ES256 signing key with a key id")
    return keys


def fetch_keys(issuer: str) -> dict[str, PyJWK]:
    """The issuer's signing keys, through its discovery document."""
    discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    with httpx.Client(
        timeout=FETCH_TIMEOUT, follow_redirects=False, headers={"Accept": "application/json"}
    ) as http:
        discovery = _get_json(http, discovery_url, "discovery document")
        if discovery.get("issuer") != issuer:
            raise KeysUnavailable("the issuer's discovery document names another issuer")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or insecure_url(jwks_uri):
            raise KeysUnavailable("the issuer's jwks_uri is missing or not https (http only on loopback)")
        return parse_jwks(_get_json(http, jwks_uri, "JWKS"))


class KeyCache:
    """The issuer's keys, kept ``ttl`` seconds; fetched again early for an unknown ``kid`` (a rotation), but
    never less than ``min_interval`` seconds after the previous attempt, so that neither made-up key ids nor
    an issuer that is down make every request a fetch."""

    def __init__(
        self,
        fetch: Callable[[], dict[str, PyJWK]],
        *,
        ttl: float,
        min_interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch, self._ttl, self._min_interval, self._clock = fetch, ttl, min_interval, clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._failure: str | None = None
        # One fetch at a time: concurrent requests wait for it instead of each asking the issuer.
        self._lock = threading.Lock()

    def _too_soon(self, now: float) -> bool:
        return self._attempted_at is not None and now - self._attempted_at < self._min_interval

    def _refresh(self, now: float) -> None:
        self._attempted_at = now
        try:
            self._keys = self._fetch()
        except KeysUnavailable as exc:
            self._failure = str(exc)
            log.warning("OIDC keys not fetched: %s", exc)
            raise
        self._fetched_at, self._failure = now, None

    def key(self, kid: str) -> PyJWK | None:
        """The key named ``kid``, or None when the issuer does not publish it; KeysUnavailable when the
        cache has expired and the keys cannot be fetched."""
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self._ttl:
                if self._failure is not None and self._too_soon(now):
                    raise KeysUnavailable(self._failure)
                self._keys = {}  # expired keys are not trusted, even if the issuer is down
                self._refresh(now)
            elif kid not in self._keys and not self._too_soon(now):
                try:
                    self._refresh(now)
                except KeysUnavailable:
                    pass  # the cached keys are still fresh; the unknown kid stays unknown
            return self._keys.get(kid)


_cache: tuple[tuple[str, float, float], KeyCache] | None = None
_cache_lock = threading.Lock()


def key_cache(settings: ApiSettings) -> KeyCache:
    """The process's cache of the configured issuer's keys (a new one if the settings changed)."""
    global _cache
    issuer = settings.oidc_issuer or ""
    ident = (issuer, settings.oidc_jwks_cache_seconds, settings.oidc_jwks_refetch_seconds)
    with _cache_lock:
        if _cache is None or _cache[0] != ident:
            cache = KeyCache(
                lambda: fetch_keys(issuer),
                ttl=settings.oidc_jwks_cache_seconds,
                min_interval=settings.oidc_jwks_refetch_seconds,
            )
            _cache = (ident, cache)
        return _cache[1]


# ---------------------------------------------------------------- tokens

_DECODE_ERRORS: list[tuple[type[jwt.PyJWTError], str]] = [
    (jwt.ExpiredSignatureError, "it has expired"),
    (jwt.ImmatureSignatureError, "it is not valid yet (iat or nbf in the future)"),
    (jwt.InvalidAudienceError, "it was issued for another audience"),
    (jwt.InvalidIssuerError, "it was issued by another issuer"),
    (jwt.InvalidSignatureError, "its signature does not verify"),
    (jwt.InvalidIssuedAtError, "its iat is not a time"),
]


def verify(token: str, settings: ApiSettings, keys: KeyCache) -> dict[str, Any]:
    """The claims of a token the configured issuer signed for this API, or the 401 saying why not."""
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise ApiError(
            401, f"invalid token: neither a platform token nor a JWT of at most {MAX_TOKEN_CHARS} characters"
        )
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise refuse("it is not a well-formed JWT") from None
    alg, kid = header.get("alg"), header.get("kid")
    if alg not in ALGORITHMS:
        raise refuse(f"it is not signed with an algorithm this API accepts ({', '.join(ALGORITHMS)})")
    if not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_CHARS:
        raise refuse("its header names no key (kid)")
    try:
        key = keys.key(kid)
    except KeysUnavailable as exc:
        raise ApiError(503, f"the OIDC issuer's keys are unavailable ({exc}); try again later") from None
    if key is None:
        raise refuse("it is signed with a key the issuer does not publish")
    if key.algorithm_name != alg:
        raise refuse("its algorithm is not the one of its key")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            audience=settings.oidc_audience,
            issuer=settings.oidc_issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub"], "verify_signature": True},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise refuse(f"it has no {exc.claim} claim") from None
    except jwt.PyJWTError as exc:
        reason = next((text for kind, text in _DECODE_ERRORS if isinstance(exc, kind)), "it is malformed")
        raise refuse(reason) from None
    return claims


def username_claim(claims: dict[str, Any], claim: str) -> str | None:
    """The username claim's value when it is a string (an ``email`` only when ``email_verified`` is true:
    an unverified address is whatever the user typed)."""
    value = claims.get(claim)
    if not isinstance(value, str):
        return None
    if claim == "email" and claims.get("email_verified") is not True:
        return None
    return value


def username_for(session: Session, token: str) -> str:
    """The platform username an OIDC token acts as (ApiError 401 when refused, 503 when keys are down)."""
    settings = get_settings().api
    if not settings.oidc_issuer:
        raise ApiError(401, "invalid token")
    claims = verify(token, settings, key_cache(settings))
    subject = claims.get("sub")
    try:
        user = oidc_users.user_for_identity(
            session,
            issuer=settings.oidc_issuer,
            subject=subject if isinstance(subject, str) else "",
            username=username_claim(claims, settings.oidc_username_claim),
            claim=settings.oidc_username_claim,
            create_users=settings.oidc_create_users,
        )
    except AuthenticationError as exc:
        log.info("OIDC token refused: %s", exc)
        raise refuse(str(exc)) from None
    return user.username
