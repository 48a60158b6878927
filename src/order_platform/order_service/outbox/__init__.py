"""The Order Service's outbox: entries stored with their orders, and the relay that publishes them.

Infrastructure of the Order Service, in a room of its own: the entry and its stored form, the
lease operations in MongoDB, the relay with its bookkeeping, the relays' heartbeats, the
database server's clock they all compare times on, and the Kafka publisher.
"""
