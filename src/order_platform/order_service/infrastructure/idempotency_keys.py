"""Idempotency-Key claims in MongoDB: the key is the `_id`, so the first writer wins atomically."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from order_platform.building_blocks.mongo.client import translate_unavailable
from order_platform.order_service.application.ports import KeyClaim, StorageUnavailable

Document = dict[str, Any]


class MongoIdempotencyKeys:
    def __init__(self, keys: AsyncCollection[Document], *, keep_for: timedelta) -> None:
        self._keys = keys
        self._keep_for = keep_for

    async def ensure_indexes(self) -> None:
        # MongoDB's TTL monitor removes expired claims; keys are promised for at least 24 h.
        await self._keys.create_index("expiresAt", expireAfterSeconds=0, name="expiry")

    async def claim(self, key: str, claim: KeyClaim) -> KeyClaim:
        with translate_unavailable(StorageUnavailable):
            try:
                await self._keys.insert_one(
                    {
                        "_id": key,
                        "fingerprint": claim.fingerprint,
                        "orderId": str(claim.order_id),
                        "claimedAt": claim.claimed_at,
                        "expiresAt": claim.claimed_at + self._keep_for,
                    }
                )
            except DuplicateKeyError:
                holder = await self._keys.find_one({"_id": key})
                if holder is None:  # released between our insert and our read: try again
                    return await self.claim(key, claim)
                return KeyClaim(
                    fingerprint=holder["fingerprint"],
                    order_id=UUID(holder["orderId"]),
                    claimed_at=holder["claimedAt"],
                )
        return claim

    async def release(self, key: str, claim: KeyClaim) -> None:
        with translate_unavailable(StorageUnavailable):
            await self._keys.delete_one({"_id": key, "orderId": str(claim.order_id)})
