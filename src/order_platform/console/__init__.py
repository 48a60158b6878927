"""The operator console: one web page with the whole pipeline, where an order is, and the
dead letters with their redrive (`order-platform console`, port 8004).

Its own four layers, like a service; it imports no service's code: it talks to the services
over HTTP (their `/metrics`, `/health/ready` and small `/internal` endpoints) and reads Kafka.
"""
