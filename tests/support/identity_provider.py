"""An identity provider for tests: its keys (RSA unless said), their JWKS served over real
HTTP, and tokens.

`published` is the set of keys the JWKS shows right now; tests rotate a key in by publishing
it, and count the fetches to see the cache work. `forge_*` make the tokens an attacker would.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

ISSUER = "https://idp.test"
AUDIENCE = "order-platform"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


type PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


class SigningKey:
    """One key pair of the provider: RSA 2048 unless `private` says otherwise; its JWK
    declares `alg` and `use` (None: left out)."""

    def __init__(
        self,
        kid: str,
        private: PrivateKey | None = None,
        *,
        alg: str | None = "RS256",
        use: str | None = "sig",
    ) -> None:
        self.kid = kid
        self.private = private or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.alg = alg
        self.use = use

    def jwk(self) -> dict[str, Any]:
        public = self.private.public_key()
        jwk: dict[str, Any]
        if isinstance(public, rsa.RSAPublicKey):
            jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
        elif isinstance(public, ec.EllipticCurvePublicKey):
            jwk = ECAlgorithm.to_jwk(public, as_dict=True)
        else:
            jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
        declared = {"kid": self.kid, "use": self.use, "alg": self.alg}
        return jwk | {name: value for name, value in declared.items() if value is not None}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


class IdentityProvider:
    def __init__(self, *keys: SigningKey) -> None:
        self.published = list(keys)
        self.fetches = 0
        self._lock = threading.Lock()

    @property
    def key(self) -> SigningKey:
        return self.published[0]

    def claims(self, sub: str, scope: str, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": sub,
            "scope": scope,
            "iat": now,
            "nbf": now,
            "exp": now + 300,
        }
        merged = {**claims, **overrides}
        return {
            name: value for name, value in merged.items() if value is not None
        }  # None: left out

    def token(
        self,
        sub: str = "alice",
        scope: str = "orders:write orders:read",
        *,
        key: SigningKey | None = None,
        **overrides: Any,
    ) -> str:
        signer = key or self.key
        return jwt.encode(
            self.claims(sub, scope, **overrides),
            signer.private,
            algorithm="RS256",
            headers={"kid": signer.kid},
        )

    def forge(self, algorithm: str, *, kid: str, signer: object, sub: str = "alice") -> str:
        """A token for the key `kid` whose header says `algorithm`, signed with `signer` (a
        private key of that algorithm's family, an HMAC secret, None for `none`): the key's
        own private key, or an attacker's, to try an algorithm the key was never meant for."""
        return jwt.encode(
            self.claims(sub, "orders:write orders:read"),
            signer,  # type: ignore[arg-type]
            algorithm=algorithm,
            headers={"kid": kid},
        )

    def forge_unsigned(self, sub: str = "alice", scope: str = "orders:write") -> str:
        """`alg: none`, no signature."""
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": self.key.kid}).encode())
        payload = _b64(json.dumps(self.claims(sub, scope)).encode())
        return f"{header}.{payload}."

    def forge_hmac_with_public_key(self, sub: str = "alice", scope: str = "orders:write") -> str:
        """HS256 with the provider's *public* key as the secret: the algorithm-confusion attack."""
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": self.key.kid}).encode())
        payload = _b64(json.dumps(self.claims(sub, scope)).encode())
        signing_input = f"{header}.{payload}".encode()
        signature = hmac.new(self.key.public_pem(), signing_input, hashlib.sha256).digest()
        return f"{header}.{payload}.{_b64(signature)}"

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            self.fetches += 1
            return {"keys": [key.jwk() for key in self.published]}


@contextmanager
def serving_jwks(provider: IdentityProvider) -> Iterator[str]:
    """The provider's JWKS on a real HTTP port; yields its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(provider.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
