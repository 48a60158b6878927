"""Adapters: the MongoDB write model and idempotency keys, settings (the outbox is in `outbox`)."""
