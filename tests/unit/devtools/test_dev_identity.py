"""The development identity: its key stays private and stable, its tokens pass the services'
own verification, and `order-platform token` reads its lifetime the way the help says."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest

from order_platform.building_blocks.auth.bearer_auth import BearerTokens, Caller
from order_platform.building_blocks.auth.jwks import JwksKeys
from order_platform.devtools.dev.dev_identity import (
    DEV_AUDIENCE,
    DEV_ISSUER,
    KEY_FILE,
    DevIdentity,
    JwksServer,
)
from order_platform.devtools.dev.token_command import parse_ttl


def test_the_key_is_made_once_private_and_reused(tmp_path: Path) -> None:
    first = DevIdentity.load_or_create(tmp_path / "data")
    again = DevIdentity.load_or_create(tmp_path / "data")

    assert (tmp_path / "data" / KEY_FILE).stat().st_mode & 0o777 == 0o600
    assert first.kid == again.kid
    assert "d" not in first.jwks()["keys"][0]  # the JWKS holds the public half only


async def test_a_minted_token_passes_the_services_verification_over_http(tmp_path: Path) -> None:
    identity = DevIdentity.load_or_create(tmp_path)
    server = JwksServer(identity)
    keys = JwksKeys(server.url)
    try:
        tokens = BearerTokens(keys, issuer=DEV_ISSUER, audience=DEV_AUDIENCE)
        token = identity.mint("bob", ["orders:read"], ttl_seconds=60)

        assert await tokens.authenticate(f"Bearer {token}") == Caller(
            "bob", frozenset({"orders:read"})
        )
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
    finally:
        await keys.close()
        server.close()


@pytest.mark.parametrize(
    ("text", "seconds"), [("90s", 90), ("15m", 900), ("1h", 3600), ("2d", 172_800), ("42", 42)]
)
def test_ttls(text: str, seconds: int) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "1w", "-1h", "h", "1.5h"])
def test_bad_ttls_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="--ttl"):
        parse_ttl(text)
