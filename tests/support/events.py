"""Build and produce `OrderCreated` v1 messages for consumer tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from uuid import UUID, uuid4

from aiokafka import AIOKafkaProducer

from order_platform.contracts import OrderCreatedV1, event_headers


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
    messages: Sequence[OrderCreatedV1 | bytes],
    *,
    key: bytes | None = None,
) -> None:
    """Events are keyed by their order id; raw bytes (poison) by `key` or nothing."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers, acks="all")
    await producer.start()
    try:
        for message in messages:
            if isinstance(message, OrderCreatedV1):
                await producer.send_and_wait(
                    topic,
                    message.to_json(),
                    key=str(message.order_id).encode(),
                    headers=event_headers(),
                )
            else:
                await producer.send_and_wait(topic, message, key=key, headers=event_headers())
    finally:
        await producer.stop()
