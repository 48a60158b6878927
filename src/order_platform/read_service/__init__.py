"""Order Read Service: the query side. Projects `OrderCreated` into a read model and serves it."""
