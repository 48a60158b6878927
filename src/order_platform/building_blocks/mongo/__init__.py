"""How we talk to MongoDB: the client and what "unavailable" means."""
