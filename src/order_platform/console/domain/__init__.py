"""What the console shows, as plain values: an order's hops, rates from counter scrapes."""

from order_platform.console.domain.journey import Hop, HopState, OrderFacts, journey
from order_platform.console.domain.rates import CounterHistory

__all__ = ["CounterHistory", "Hop", "HopState", "OrderFacts", "journey"]
