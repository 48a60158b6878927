"""Event-driven CQRS order platform."""
