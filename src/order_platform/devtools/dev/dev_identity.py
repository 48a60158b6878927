"""A stand-in identity provider for development only: one RSA key pair, its JWKS, tokens.

`dev` serves the JWKS over HTTP and points the services at it; `order-platform token` mints a
token with the same key. The private key is generated on first use into the data directory
(never into the repository) and readable by its owner only. Nothing here is for production:
there, tokens come from a real OpenID Connect provider (see README, "Security").
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from order_platform.building_blocks.auth.bearer_auth import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE

DEV_ISSUER = "urn:order-platform:dev"
DEV_AUDIENCE = "order-platform"
DEMO_CUSTOMER = "demo-customer"
# The printed token may do everything the printed curls do: place and read its orders, and
# (as the shop) confirm and ship them.
DEMO_SCOPES = (SCOPE_WRITE, SCOPE_READ, SCOPE_ADMIN)
KEY_FILE = "dev-signing-key.pem"
JWKS_PATH = "/.well-known/jwks.json"


def default_key_dir() -> Path:
    """Where `dev` without `--data-dir` and `token` keep the key: $XDG_DATA_HOME/order-platform."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "order-platform"


@dataclass(frozen=True, slots=True)
class DevIdentity:
    private_key: rsa.RSAPrivateKey
    kid: str

    @classmethod
    def load_or_create(cls, directory: Path) -> DevIdentity:
        path = directory / KEY_FILE
        if path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ValueError(f"{path} does not hold an RSA private key")
        else:
            directory.mkdir(parents=True, exist_ok=True)
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(pem)
        return cls(key, _thumbprint(_public_jwk(key)))

    def jwks(self) -> dict[str, Any]:
        jwk = _public_jwk(self.private_key) | {"kid": self.kid, "use": "sig", "alg": "RS256"}
        return {"keys": [jwk]}

    def mint(self, subject: str, scopes: Iterable[str], *, ttl_seconds: float) -> str:
        now = int(time.time())
        claims = {
            "iss": DEV_ISSUER,
            "aud": DEV_AUDIENCE,
            "sub": subject,
            "scope": " ".join(scopes),
            "iat": now,
            "nbf": now,
            "exp": now + int(ttl_seconds),
        }
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": self.kid})


def _public_jwk(key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {name: jwk[name] for name in ("kty", "n", "e")}


def _thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638: the SHA-256 of the key's required members, as the key id."""
    canonical = json.dumps(jwk, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).decode().rstrip("=")


class JwksServer:
    """The JWKS over HTTP on an ephemeral port, in a daemon thread, until `close`."""

    def __init__(self, identity: DevIdentity, host: str = "127.0.0.1") -> None:
        body = json.dumps(identity.jwks()).encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                found = self.path == JWKS_PATH
                self.send_response(200 if found else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body) if found else 0))
                self.end_headers()
                if found:
                    self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # quiet: `dev` prints what matters

        self._server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self._server.server_address[1]}{JWKS_PATH}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="dev-jwks", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
