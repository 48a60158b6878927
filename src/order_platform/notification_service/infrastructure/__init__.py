"""Adapters of the Notification Service: senders, the Redis ledger, settings."""
