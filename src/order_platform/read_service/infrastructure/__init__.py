"""Adapters of the query side: MongoDB read model, Redis cache, Kafka consumer, settings."""
