"""Operator commands that act on a running pipeline (`order-platform dlq …`)."""
