"""Which JWS algorithms a public key may verify: asymmetric ones only, bound to the key.

A token's header names its algorithm, but the key decides (RFC 8725, 3.1): its JWK's `alg`
when it declares one, otherwise its type and curve. Verifying with anything else would hand
PyJWT a key of the wrong type (a `TypeError`, not a refusal) or accept an algorithm the
provider never meant for that key (PS256 against an `RS256` key).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.ed448 import Ed448PublicKey
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
# ES256 means P-256 and SHA-256, and so on (RFC 7518, 3.4): the curve decides, not the header.
EC_ALGORITHM_BY_CURVE = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
ASYMMETRIC_ALGORITHMS = RSA_ALGORITHMS | set(EC_ALGORITHM_BY_CURVE.values()) | {"EdDSA"}

type PublicKey = RSAPublicKey | EllipticCurvePublicKey | Ed25519PublicKey | Ed448PublicKey
PUBLIC_KEY_TYPES = (RSAPublicKey, EllipticCurvePublicKey, Ed25519PublicKey, Ed448PublicKey)


def algorithms_for(key: PublicKey, declared_alg: object = None) -> frozenset[str]:
    """The algorithms `key` may verify: those of its type (and curve), narrowed to the JWK's
    `alg` when it declares one. Empty when the two disagree or the curve is not accepted."""
    fitting: frozenset[str]
    if isinstance(key, RSAPublicKey):
        fitting = RSA_ALGORITHMS
    elif isinstance(key, EllipticCurvePublicKey):
        curve = EC_ALGORITHM_BY_CURVE.get(key.curve.name)
        fitting = frozenset({curve} if curve else ())
    else:
        fitting = frozenset({"EdDSA"})
    if declared_alg is None:
        return fitting
    return fitting & {declared_alg} if isinstance(declared_alg, str) else frozenset()
