"""mongoeco's memory engine without two full-collection scans on `_id` (mongoeco 4.11).

The stock engine, on every single-document insert, compares the new `_id` with every stored
document's `_id` by BSON value, and on every `_id` lookup that misses falls back to scanning
the collection. Both exist for `_id` values whose equality is looser than their storage key
(numbers: 1 == 1.0; documents; collation-aware reads). For a `str`, `uuid.UUID` or ObjectId
the storage key *is* the equality, so the key lookup the engine already does decides alone.
That turns inserts and missed lookups from O(collection) into O(1) (see docs/design.md, Servers).

Likewise `_id: {$in: [...]}` (the read model's page of current states, a projection's batch of
orders, the relay's documents after a publish): the stock engine scans the whole collection
for it, where a real MongoDB walks its `_id` index; here the storage keys decide, so it costs
what the ids cost, not what the collection holds.
"""

from __future__ import annotations

import uuid
from typing import Any, override

from bson import ObjectId as BsonObjectId
from mongoeco import ObjectId as MongoEcoObjectId
from mongoeco.core.query_plan import AndCondition, InCondition
from mongoeco.engines._memory_collection import MemoryCollection
from mongoeco.engines.memory import MemoryEngine

# Exact types, not isinstance: `bson.Code` subclasses `str` but compares with its scope.
_EXACT_MATCH_ID_TYPES: frozenset[type] = frozenset({str, uuid.UUID, BsonObjectId, MongoEcoObjectId})


def has_exact_match_id(value: object) -> bool:
    """True if BSON equality of this `_id` is equality of its storage key."""
    return type(value) in _EXACT_MATCH_ID_TYPES


class FastIdMemoryEngine(MemoryEngine):
    """`MemoryEngine` whose `_id` uniqueness and `_id` point reads use the storage key only.

    `_id` uniqueness stays enforced: the engine still refuses a candidate whose storage key is
    taken (the `check_id_storage` branch); only the redundant by-value scan after it is skipped.
    Secondary unique indexes are checked exactly as before.
    """

    @override
    def _ensure_unique_indexes(
        self,
        db_name: str,
        coll_name: str,
        candidate: dict[str, Any],
        *,
        check_id_storage: bool = False,
        scan_payload_id: bool = False,
        **kwargs: Any,
    ) -> None:
        if scan_payload_id and check_id_storage and has_exact_match_id(candidate.get("_id")):
            scan_payload_id = False
        super()._ensure_unique_indexes(
            db_name,
            coll_name,
            candidate,
            check_id_storage=check_id_storage,
            scan_payload_id=scan_payload_id,
            **kwargs,
        )

    @override
    def _candidate_items_for_plan_locked(
        self,
        coll: dict[Any, Any],
        query_plan: Any,
        *,
        collation: Any,
        **kwargs: Any,
    ) -> list[tuple[Any, Any]]:
        # A collation may make another stored `_id` equal ("A" vs "a"): keep the stock path then.
        if collation is None:
            id_lookup = self._direct_id_lookup_from_plan(query_plan)
            if has_exact_match_id(id_lookup) and self._storage_key(id_lookup) not in coll:
                return []
            ids = _id_in_values(query_plan)
            if ids is not None and all(map(has_exact_match_id, ids)):
                # Candidates only: the caller still matches every one against the whole query.
                keys = {self._storage_key(value) for value in ids}
                if isinstance(coll, MemoryCollection):
                    ordered = coll.ordered_keys(keys)  # natural order, as a scan would give
                else:
                    ordered = [key for key in coll if key in keys]
                return [(key, coll[key]) for key in ordered]
        result: list[tuple[Any, Any]] = super()._candidate_items_for_plan_locked(
            coll, query_plan, collation=collation, **kwargs
        )
        return result


def _id_in_values(query_plan: Any) -> tuple[Any, ...] | None:
    """The values of an `_id: {$in: [...]}` the whole query requires, if it has one."""
    clauses = query_plan.clauses if isinstance(query_plan, AndCondition) else (query_plan,)
    for clause in clauses:
        if (
            isinstance(clause, InCondition)
            and clause.field == "_id"
            and not clause.null_matches_undefined
        ):
            return tuple(clause.values)
    return None
