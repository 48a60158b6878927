"""Errors the domain raises; the HTTP layer maps each one to a problem+json answer."""

from order_platform.contracts.errors import Invalid


class InvalidOrderField(Invalid):
    """One field of an order breaks a rule; `field` names it in domain terms."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
