"""Notification Service: the worker that sends one notification per order created."""
