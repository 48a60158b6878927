"""Notification Service: the worker that notifies customers. Not built yet: issue 5."""
