"""A hand-written fake of the `Authenticator` port: tokens are names looked up in a table.

It obeys the contract the real `BearerTokens` is held to (tests/integration/building_blocks/
test_authenticator_contract.py): no header is a plain 401, a refused token an `invalid_token`.
"""

from __future__ import annotations

from collections.abc import Mapping

from order_platform.building_blocks.auth.bearer_auth import Caller, Unauthenticated
from order_platform.building_blocks.runtime.health import Check
from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor

ALICE_WRITES = "alice-writes"
ALICE_READS = "alice-reads"
BOB_WRITES = "bob-writes"
BOB_READS = "bob-reads"
ADMIN = "admin"
WRITE_ONLY = "write-only"

CALLERS: Mapping[str, Caller] = {
    ALICE_WRITES: Caller("alice", frozenset({"orders:write", "orders:read"})),
    ALICE_READS: Caller("alice", frozenset({"orders:read"})),
    BOB_WRITES: Caller("bob", frozenset({"orders:write", "orders:read"})),
    BOB_READS: Caller("bob", frozenset({"orders:read"})),
    ADMIN: Caller("operator", frozenset({"orders:admin"})),
    WRITE_ONLY: Caller("carol", frozenset({"orders:write"})),
}


class FakeTokens:
    enabled = True

    def __init__(self, callers: Mapping[str, Caller] = CALLERS) -> None:
        self.callers = callers

    async def authenticate(self, authorization: str | None) -> Caller:
        if not authorization:
            raise Unauthenticated("This route needs a bearer token.", invalid=False)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Send the token as `Authorization: Bearer <JWT>`.", invalid=False)
        if (caller := self.callers.get(token.strip())) is None:
            raise Unauthenticated("The token is not valid.", invalid=True)
        return caller

    def supervise(self, supervisor: TaskSupervisor) -> None:
        pass

    def readiness(self) -> tuple[Mapping[str, str], Mapping[str, Check]]:
        return {}, {}

    async def aclose(self) -> None:
        pass


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
