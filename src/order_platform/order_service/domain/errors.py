"""Errors the domain raises; the HTTP layer maps each one to a problem+json answer."""

from __future__ import annotations

from collections.abc import Sequence

from order_platform.contracts.errors import Conflict, Invalid


class InvalidOrderField(Invalid):
    """One field of an order breaks a rule; `field` names it in domain terms."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class TransitionNotAllowed(Conflict):
    """A command the order's current status does not allow (409: its status, what it allows)."""

    problem = "transition-not-allowed"

    def __init__(self, command: str, status: str, allowed: Sequence[str]) -> None:
        allowed_text = ", ".join(allowed) or "nothing: it is final"
        super().__init__(f"an order that is {status} cannot {command}; it allows {allowed_text}")
        self.command = command
        self.status = status
        self.allowed = tuple(allowed)
