"""How the outside world drives the Notification Service: Kafka deliveries, health HTTP."""
