"""Order Service: the command side. Accepts orders and publishes `OrderCreated`."""
