"""Order Read Service: the query side (projection, cache, GET /orders). Not built yet: issue 4."""
