"""OIDC token verification in-process (``api.oidc``), against a local issuer (a real HTTP server in a thread):
every refusal with its reason, the key cache's fetch rules on a fake clock, what a JWKS may hold, what the
discovery fetch refuses, and the settings that refuse an issuer without an audience."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import ValidationError

from api.errors import ApiError
from api.oidc import (
    MAX_DOCUMENT_BYTES,
    KeyCache,
    KeysUnavailable,
    fetch_keys,
    parse_jwks,
    username_claim,
    verify,
)
from infra.settings import ApiSettings
from tests.fixtures.oidc_issuer import AUDIENCE, LocalIssuer


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forge(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims).encode())}.{b64(signature)}"


def claims_of(token: str) -> dict[str, Any]:
    return jwt.decode(token, options={"verify_signature": False})


def settings_for(issuer: LocalIssuer, **values: Any) -> ApiSettings:
    return ApiSettings(oidc_issuer=issuer.url, oidc_audience=AUDIENCE, **values)


@pytest.fixture
def check(oidc_issuer: LocalIssuer):  # type: ignore[no-untyped-def]
    """verify() with the issuer's settings and keys fetched from it; returns the claims or the 401 message."""
    settings = settings_for(oidc_issuer)
    cache = KeyCache(lambda: fetch_keys(oidc_issuer.url), ttl=300, min_interval=0)

    def run(token: str) -> dict[str, Any] | str:
        try:
            return verify(token, settings, cache)
        except ApiError as exc:
            assert exc.status == 401, exc.message
            assert not any(part in exc.message for part in token.split(".") if len(part) > 8)
            return exc.message

    return run


def test_a_token_of_the_issuer_is_accepted(oidc_issuer: LocalIssuer, check) -> None:  # type: ignore[no-untyped-def]
    claims = check(oidc_issuer.token("s1", username="carol"))
    assert isinstance(claims, dict) and claims["sub"] == "s1" and claims["preferred_username"] == "carol"
    # aud may be a list holding the audience; clocks a little apart are tolerated.
    assert isinstance(check(oidc_issuer.token("s1", aud=["other", AUDIENCE])), dict)
    assert isinstance(check(oidc_issuer.token("s1", iat=int(time.time()) + 10)), dict)


def test_tokens_that_are_refused(oidc_issuer: LocalIssuer, check) -> None:  # type: ignore[no-untyped-def]
    now = int(time.time())
    valid = oidc_issuer.token("s1", username="carol")
    header = jwt.get_unverified_header(valid)
    good = claims_of(valid)
    pem = oidc_issuer.public_pem()
    hs256 = forge(
        {**header, "alg": "HS256"},
        good,
        hmac.new(
            pem, forge({**header, "alg": "HS256"}, good).rsplit(".", 1)[0].encode(), hashlib.sha256
        ).digest(),
    )
    # The issuer's real signature, on a payload naming someone else.
    tampered = ".".join(
        [valid.split(".")[0], b64(json.dumps({**good, "sub": "admin-subject"}).encode()), valid.split(".")[2]]
    )
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    p384 = ec.generate_private_key(ec.SECP384R1())
    cases = {
        "wrong audience": (oidc_issuer.token("s1", aud="another-app"), "another audience"),
        "no audience": (oidc_issuer.token("s1", aud=None), "no aud claim"),
        "wrong issuer": (oidc_issuer.token("s1", iss="http://127.0.0.1:1"), "another issuer"),
        "expired": (oidc_issuer.token("s1", iat=now - 7200, exp=now - 3600), "expired"),
        "no expiry": (oidc_issuer.token("s1", exp=None), "no exp claim"),
        "not yet valid": (oidc_issuer.token("s1", nbf=now + 3600), "not valid yet"),
        "issued in the future": (oidc_issuer.token("s1", iat=now + 3600), "not valid yet"),
        "no subject": (oidc_issuer.token("s1", sub=None), "no sub claim"),
        "alg none": (forge({**header, "alg": "none"}, good), "algorithm this API accepts"),
        "HS256 with the public key": (hs256, "algorithm this API accepts"),
        "ES384": (oidc_issuer.token("s1", key=p384, algorithm="ES384"), "algorithm this API accepts"),
        "ES256 header on an RSA key": (
            forge({**header, "alg": "ES256"}, good, b"x" * 64),
            "not the one of its key",
        ),
        "unknown kid": (oidc_issuer.token("s1", kid="made-up"), "does not publish"),
        "no kid": (forge({"alg": "RS256"}, good, b"x"), "names no key"),
        "signed by another key": (oidc_issuer.token("s1", key=stranger), "signature does not verify"),
        "tampered payload": (tampered, "signature does not verify"),
        "not a JWT": ("a.b.c", "not a well-formed JWT"),
        "too long": (valid + "A" * 9000, "neither a platform token nor a JWT"),
        "two parts": ("abc.def", "neither a platform token nor a JWT"),
    }
    for name, (token, reason) in cases.items():
        message = check(token)
        assert isinstance(message, str) and reason in message, (name, message)


def test_username_claim() -> None:
    assert username_claim({"preferred_username": "carol"}, "preferred_username") == "carol"
    assert username_claim({"preferred_username": ["carol"]}, "preferred_username") is None
    assert username_claim({"email": "c@example.org"}, "email") is None  # unverified: whatever was typed
    assert username_claim({"email": "c@example.org", "email_verified": "true"}, "email") is None
    assert username_claim({"email": "c@example.org", "email_verified": True}, "email") == "c@example.org"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_key_cache_fetches_on_expiry_and_unknown_kids_at_a_bounded_rate(oidc_issuer: LocalIssuer) -> None:
    clock, fetches = Clock(), []
    outcome: list[Any] = []

    def fetch() -> dict[str, Any]:
        fetches.append(clock.now)
        if outcome:
            raise outcome[0]
        return parse_jwks(oidc_issuer.jwks())

    cache = KeyCache(fetch, ttl=300, min_interval=30, clock=clock)
    assert cache.key("key-1") is not None and len(fetches) == 1
    for n in range(80):  # made-up kids, 40 s of them: one fetch per interval, not one per token
        clock.now += 0.5
        assert cache.key(f"garbage-{n}") is None
    assert len(fetches) == 1 + 1  # the first unknown kid after 30 s
    new = oidc_issuer.rotate()
    assert cache.key(new) is None  # within the interval: not fetched yet
    clock.now += 30
    assert cache.key(new) is not None and len(fetches) == 3  # the rotation is picked up

    # The issuer goes down: fresh keys keep working; expired ones are dropped and retried once per interval.
    outcome.append(KeysUnavailable("the issuer's JWKS answered HTTP 500"))
    clock.now += 31
    assert cache.key("garbage") is None and cache.key(new) is not None and len(fetches) == 4
    clock.now += 300
    with pytest.raises(KeysUnavailable):
        cache.key(new)
    with pytest.raises(KeysUnavailable, match="HTTP 500"):
        cache.key(new)  # refused at once: no second attempt within the interval
    assert len(fetches) == 5
    outcome.clear()
    clock.now += 30
    assert cache.key(new) is not None and len(fetches) == 6
    # Keys expire after their time even when every kid is known.
    clock.now += 299
    cache.key(new)
    assert len(fetches) == 6
    clock.now += 1
    cache.key(new)
    assert len(fetches) == 7


def test_what_a_jwks_may_hold() -> None:
    def jwk(key: Any, **extra: Any) -> dict[str, Any]:
        algorithm = (
            jwt.algorithms.RSAAlgorithm
            if isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey)
            else jwt.algorithms.ECAlgorithm
        )
        return {**json.loads(algorithm.to_jwk(key)), **extra}

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p256 = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    document = {
        "keys": [
            jwk(rsa_key.public_key(), kid="rsa"),
            jwk(p256.public_key(), kid="ec"),
            jwk(rsa_key.public_key()),  # no kid
            jwk(rsa_key.public_key(), kid="enc", use="enc"),
            jwk(rsa_key.public_key(), kid="rs512", alg="RS512"),
            jwk(small.public_key(), kid="small"),
            jwk(p384.public_key(), kid="p384"),
            jwk(rsa_key, kid="private"),
            {"kty": "oct", "k": b64(b"secret"), "kid": "hmac"},
            {"kty": "RSA", "kid": "broken", "n": "AQAB"},
            "not a key",
        ]
    }
    assert sorted(parse_jwks(document)) == ["ec", "rsa"]
    for bad in ({"keys": [jwk(small.public_key(), kid="small")]}, {"keys": "x"}, {"keys": [{}] * 101}):
        with pytest.raises(KeysUnavailable):
            parse_jwks(bad)


def test_what_the_key_fetch_refuses(oidc_issuer: LocalIssuer) -> None:
    discovery = "/.well-known/openid-configuration"
    assert sorted(fetch_keys(oidc_issuer.url)) == [oidc_issuer.current]
    answers = {
        "names another issuer": {discovery: json.dumps({"issuer": "https://x", "jwks_uri": "x"}).encode()},
        "not https": {
            discovery: json.dumps({"issuer": oidc_issuer.url, "jwks_uri": "http://example.org/jwks"}).encode()
        },
        "not JSON": {"/jwks": b"<html>"},
        "not a JSON object": {"/jwks": b"[]"},
        "larger than": {"/jwks": b" " * (MAX_DOCUMENT_BYTES + 1)},
    }
    for reason, overrides in answers.items():
        oidc_issuer.overrides = overrides
        with pytest.raises(KeysUnavailable, match=reason):
            fetch_keys(oidc_issuer.url)
    oidc_issuer.overrides = {}
    with pytest.raises(KeysUnavailable, match="HTTP 404"):
        fetch_keys(oidc_issuer.url + "/nowhere")
    with pytest.raises(KeysUnavailable, match="could not be fetched"):
        fetch_keys("http://127.0.0.1:1")


def test_settings_refuse_an_issuer_without_audience_or_over_plain_http() -> None:
    with pytest.raises(ValidationError, match="MLOPS_API_OIDC_AUDIENCE is required"):
        ApiSettings(oidc_issuer="https://issuer.example")
    with pytest.raises(ValidationError, match="MLOPS_API_OIDC_AUDIENCE is required"):
        ApiSettings(oidc_issuer="https://issuer.example", oidc_audience=" ")
    for url in ("http://issuer.example", "ftp://127.0.0.1", "issuer.example", "https://"):
        with pytest.raises(ValidationError, match="must be an https:// URL"):
            ApiSettings(oidc_issuer=url, oidc_audience="api")
    assert ApiSettings(oidc_issuer="http://127.0.0.1:8080/realms/x", oidc_audience="api").oidc_issuer
    assert ApiSettings(oidc_issuer="", oidc_audience=None).oidc_issuer is None
