"""The `NotifyCustomer` use case and the ports it needs."""
