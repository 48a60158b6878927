"""How we talk to Kafka: the consumer loop, its lag reporter, producers, dead letters."""
