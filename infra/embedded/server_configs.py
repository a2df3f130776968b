"""Configuration files that make each embedded server authenticate its callers, written before it starts.

- SeaweedFS (``weed server`` in its data dir, which is its working directory and so where it reads
  ``security.toml`` and ``master.toml``): JWT keys for the volume servers' and the filer's HTTP reads and
  writes, and mutual TLS on every gRPC port, with a CA and certificates made for this install. The S3 API
  checks the platform's S3 keys; the master's and the filer's plain HTTP APIs are switched off by flags in
  ``infra.embedded.components``.
- nats-server: a config file with two users — the platform's (the responder: may subscribe to the namespace's
  request subjects and answer them, and publish the platform's events ``{namespace}.events.>``, nothing else)
  and the client user other systems call as (may publish requests, read its own inbox prefix and subscribe to
  the events, nothing else: it cannot publish an event). No anonymous access, no monitoring port.
- MLflow: the basic-auth app's ini file (the platform's user is its admin, created at its first start from
  the environment; no other account has any permission it was not granted: the platform grants each custom job's
  account its own experiment and model, ``infra.tracking_auth``).

Secrets come from the settings (generated per install, ``infra.settings.secrets``). Every file is written
0600 into a 0700 directory, rewritten on each start, so a changed setting takes effect on restart.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
from pathlib import Path

from infra.settings import Settings
from infra.settings.secrets import ensure_private_dir, install_secret

TLS_DIR = "tls"
CERT_DAYS = 3650


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` with mode 0600 (created so, never world-readable even for a moment)."""
    ensure_private_dir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
    return path


# -- SeaweedFS -------------------------------------------------------------------------------------------


def _pem_key(key: object) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _certificate(subject: str, key: object, issuer: str, issuer_key: object, *, ca: bool, host: str) -> bytes:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names: list[x509.GeneralName] = [x509.DNSName("localhost")]
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
    cert = builder.sign(issuer_key, hashes.SHA256())  # type: ignore[arg-type]
    return cert.public_bytes(serialization.Encoding.PEM)


def seaweedfs_tls(directory: Path, host: str) -> dict[str, Path]:
    """This install's CA, server and client certificates for SeaweedFS' gRPC (made once, then reused).

    Only holders of the client key (the SeaweedFS process itself) can call its gRPC ports; the CA key is not
    kept, so no other certificate can ever be issued for them.
    """
    from cryptography.hazmat.primitives.asymmetric import ec

    tls = ensure_private_dir(directory / TLS_DIR)
    paths = {name: tls / name for name in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key")}
    meta = tls / "hosts.json"
    if all(p.exists() for p in paths.values()) and meta.exists() and json.loads(meta.read_text()) == [host]:
        return paths
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate(
        "mlops-lite seaweedfs CA", ca_key, "mlops-lite seaweedfs CA", ca_key, ca=True, host=host
    )
    write_private(paths["ca.crt"], ca_cert.decode())
    for role in ("server", "client"):
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _certificate(
            f"mlops-lite seaweedfs {role}", key, "mlops-lite seaweedfs CA", ca_key, ca=False, host=host
        )
        write_private(paths[f"{role}.key"], _pem_key(key).decode())
        write_private(paths[f"{role}.crt"], cert.decode())
    write_private(meta, json.dumps([host]))
    return paths


def _toml_str(value: str | Path) -> str:
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_seaweedfs_config(settings: Settings, directory: Path) -> None:
    """``security.toml`` (JWT keys, gRPC mutual TLS) and ``master.toml`` (one volume per new bucket) in the
    server's working directory."""
    data_dir = settings.platform.data_dir
    tls = seaweedfs_tls(directory, settings.platform.host)
    jwt = {
        "jwt.signing": "seaweedfs_volume_write_key",
        "jwt.signing.read": "seaweedfs_volume_read_key",
        "jwt.filer_signing": "seaweedfs_filer_write_key",
        "jwt.filer_signing.read": "seaweedfs_filer_read_key",
    }
    lines = ["# Written by mlops-lite at every start (infra/embedded/server_configs.py); edits are lost."]
    for section, secret in jwt.items():
        lines += [
            f"[{section}]",
            f"key = {_toml_str(install_secret(secret, data_dir))}",
            "expires_after_seconds = 60",
            "",
        ]
    lines += ["[grpc]", f"ca = {_toml_str(tls['ca.crt'])}", ""]
    for role in ("master", "volume", "filer", "s3"):
        lines += [
            f"[grpc.{role}]",
            f"cert = {_toml_str(tls['server.crt'])}",
            f"key = {_toml_str(tls['server.key'])}",
            "",
        ]
    lines += [
        "[grpc.client]",
        f"cert = {_toml_str(tls['client.crt'])}",
        f"key = {_toml_str(tls['client.key'])}",
        "",
    ]
    write_private(directory / "security.toml", "\n".join(lines))
    # Every bucket is a collection; the default grows 7 volumes for each, and a volume server holds a bounded
    # number of them (free disk / volume size): one per collection lets many buckets coexist.
    write_private(
        directory / "master.toml",
        "[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 2\ncopy_3 = 3\ncopy_other = 1\n",
    )


# -- nats-server -----------------------------------------------------------------------------------------


PASSWORD_MARK = "\0password:"  # a password written as a reference to an environment variable of the server


def nats_config(
    settings: Settings, host: str, port: int, *, password_env: tuple[str, str] | None = None
) -> str:
    """The nats-server config of the platform's two users. ``password_env`` (responder, client variable names):
    write the passwords as references to the server's environment (``$NAME``), as deployments/nats.conf does."""
    nats = settings.nats
    requests = f"{nats.namespace}.>"
    events = f"{nats.namespace}.events.>"
    passwords = (
        (nats.password, nats.client_password)
        if password_env is None
        else tuple(f"{PASSWORD_MARK}{name}" for name in password_env)
    )
    responder = {
        "user": nats.user,
        "password": passwords[0],
        "permissions": {
            # Requests only (no inboxes: no reading other callers' replies, and no events: an event is never
            # taken for a request); publishing only as a reply, or the platform's events.
            "subscribe": {"allow": [requests], "deny": [events]},
            "publish": {"allow": [events]},
            "allow_responses": {"max": 1},
        },
    }
    client = {
        "user": nats.client_user,
        "password": passwords[1],
        "permissions": {
            # May ask, never answer: it cannot subscribe to the request subjects (or join the responders'
            # queue group), nor read any inbox but its own prefix. It reads the platform's events and cannot
            # publish one (deny wins over allow), so an event on the bus is always the platform's.
            "publish": {"allow": [requests], "deny": [events]},
            "subscribe": {"allow": [f"{nats.client_inbox_prefix}.>", events]},
        },
    }
    # The NATS config format accepts JSON values; an environment reference is an unquoted $NAME.
    users = json.dumps({"users": [responder, client]}, indent=1)
    users = re.sub(rf'"{re.escape(json.dumps(PASSWORD_MARK)[1:-1])}([A-Z0-9_]+)"', r"$\1", users)
    return "\n".join(
        [
            "# Written by mlops-lite (infra/embedded/server_configs.py nats_config); edits are lost.",
            f"listen: {json.dumps(f'{host}:{port}')}",
            f"authorization: {users}",
            "",
        ]
    )


# -- MLflow ----------------------------------------------------------------------------------------------


def mlflow_auth_ini(directory: Path) -> str:
    """The basic-auth app's settings; its admin's name and password go in its environment
    (MLFLOW_AUTH_ADMIN_USERNAME/PASSWORD), not in a file."""
    return "\n".join(
        [
            "[mlflow]",
            # Nobody but the admin (the platform) may read or write anything it was not granted.
            "default_permission = NO_PERMISSIONS",
            f"database_uri = sqlite:///{directory / 'basic_auth.db'}",
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
            # Each check is a PBKDF2 hash; caching a verified (user, password) for a minute keeps it off most calls.
            "auth_cache_ttl_seconds = 60",
            "",
        ]
    )
