"""Use cases of the Order Service and the ports they need."""
