"""Adapters: MongoDB write model with its outbox, the Kafka relay, settings."""
