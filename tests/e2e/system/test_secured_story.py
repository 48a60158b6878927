"""The whole story with authentication on: every service a process, tokens from an identity
provider the test serves over HTTP. Each customer creates and reads their own orders only;
an admin sees all; the same Idempotency-Key of two customers makes two orders; the rate limit
answers 429; health needs no token; both orders are notified once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.identity_provider import (
    AUDIENCE,
    ISSUER,
    IdentityProvider,
    SigningKey,
    serving_jwks,
)
from tests.support.system import System, running_system
from tests.support.waiting import eventually

pytestmark = pytest.mark.slow

LIMIT = 3


@pytest.fixture(scope="module")
def provider() -> IdentityProvider:
    return IdentityProvider(SigningKey("story"))


@pytest.fixture
def secured_system(
    provider: IdentityProvider,
    kafka_bootstrap: str,
    mongodb_uri: str,
    redis_url: str,
    unique_name: str,
    tmp_path: Path,
) -> Iterator[System]:
    with (
        serving_jwks(provider) as jwks_url,
        running_system(
            name=unique_name,
            kafka_bootstrap=kafka_bootstrap,
            mongodb_uri=mongodb_uri,
            redis_url=redis_url,
            log_dir=tmp_path,
            http_env={
                "AUTH_JWKS_URL": jwks_url,
                "AUTH_ISSUER": ISSUER,
                "AUTH_AUDIENCE": AUDIENCE,
                "RATE_LIMIT_ORDERS_PER_MINUTE": str(LIMIT),
            },
        ) as running,
    ):
        yield running


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def listed(client: httpx.AsyncClient, url: str, token: str) -> list[dict[str, Any]]:
    orders: list[dict[str, Any]] = []
    next_url: str | None = f"{url}/orders?limit=1"
    while next_url is not None:
        response = await client.get(next_url, headers=bearer(token))
        assert response.status_code == 200, response.text
        orders += response.json()
        link = response.links.get("next")
        next_url = f"{url}{link['url']}" if link else None
    return orders


async def test_customers_see_their_own_orders_admins_all_and_refusals_are_answered(
    secured_system: System, provider: IdentityProvider, unique_name: str
) -> None:
    system = secured_system
    alice, bob = f"alice-{unique_name}", f"bob-{unique_name}"
    alice_token, bob_token = provider.token(alice), provider.token(bob)
    admin_token = provider.token("operator", "orders:admin")
    reads = system.reads[0].url
    key = {"Idempotency-Key": "same-key-for-both"}
    async with httpx.AsyncClient(timeout=10) as client:
        # No token: nothing is created, nothing is read; health needs none.
        body = {"customerName": "Nobody", "totalAmount": "1.00"}
        assert (await client.post(f"{system.order.url}/orders", json=body)).status_code == 401
        assert (await client.get(f"{reads}/orders")).status_code == 401
        assert (await client.get(f"{system.order.url}/health/ready")).status_code == 200

        created = {}
        for name, token in ((alice, alice_token), (bob, bob_token)):
            response = await client.post(
                f"{system.order.url}/orders",
                json={"customerName": name.title(), "totalAmount": "10.00"},
                headers=bearer(token) | key,
            )
            assert response.status_code == 201, response.text
            created[name] = response.json()
        assert created[alice]["id"] != created[bob]["id"]
        assert created[alice]["customerId"] == alice

        async def both_projected() -> bool:
            answers = [
                await client.get(f"{reads}/orders/{order['id']}", headers=bearer(admin_token))
                for order in created.values()
            ]
            return all(answer.status_code == 200 for answer in answers)

        await eventually(both_projected, timeout=20, what="both orders projected")

        assert await listed(client, reads, alice_token) == [created[alice]]
        assert await listed(client, reads, bob_token) == [created[bob]]
        assert {o["id"] for o in await listed(client, reads, admin_token)} == {
            created[alice]["id"],
            created[bob]["id"],
        }
        hidden = await client.get(
            f"{reads}/orders/{created[bob]['id']}", headers=bearer(alice_token)
        )
        assert hidden.status_code == 404
        own = await client.get(
            f"{reads}/orders/{created[alice]['id']}", headers=bearer(alice_token)
        )
        assert own.json() == created[alice]

        # Alice has used one of her LIMIT orders per minute.
        answers = [
            await client.post(
                f"{system.order.url}/orders",
                json={"customerName": "Alice", "totalAmount": "2.00"},
                headers=bearer(alice_token),
            )
            for _ in range(LIMIT)
        ]
        assert [a.status_code for a in answers] == [201] * (LIMIT - 1) + [429]
        assert answers[-1].headers["ratelimit-policy"] == f'"orders-per-minute";q={LIMIT};w=60'

    expected = {created[alice]["id"], created[bob]["id"]} | {
        a.json()["id"] for a in answers if a.status_code == 201
    }

    async def notified() -> Counter[str] | None:
        counts = system.notified()
        return counts if set(counts) >= expected else None

    await eventually(notified, timeout=20, what="every order notified")
    await system.wait_until_idle()
    assert system.notified() == Counter(dict.fromkeys(expected, 1)), system.logs()
