"""Build and produce `OrderCreated` v1 messages (and any order event) for consumer tests."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

from aiokafka import AIOKafkaProducer

from order_platform.contracts import OrderCreatedV1, event_headers
from order_platform.contracts.order_events import OrderEventV1


def order_created(
    *,
    customer_name: str = "Lucas",
    total_amount: str = "199.90",
    order_id: UUID | None = None,
    created_at: datetime | None = None,
) -> OrderCreatedV1:
    when = created_at or datetime.now(UTC).replace(microsecond=0)
    return OrderCreatedV1(
        event_id=uuid4(),
        occurred_at=when,
        order_id=order_id or uuid4(),
        customer_name=customer_name,
        total_amount=Decimal(total_amount),
        created_at=when,
    )


async def produce(
    bootstrap_servers: str,
    topic: str,
    messages: Sequence[OrderEventV1 | bytes],
    *,
    key: bytes | None = None,
) -> None:
    """Events are keyed by their order id; raw bytes (poison) by `key` or nothing."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        # In order, and all acknowledged before returning; sends are batched by the producer.
        deliveries = []
        for message in messages:
            if isinstance(message, bytes):
                value, message_key, event_type = message, key, "OrderCreated"
            else:
                value, message_key = message.to_json(), str(message.order_id).encode()
                event_type = message.event_type
            deliveries.append(
                await producer.send(
                    topic, value, key=message_key, headers=event_headers(event_type=event_type)
                )
            )
        await asyncio.gather(*deliveries)
    finally:
        await producer.stop()
