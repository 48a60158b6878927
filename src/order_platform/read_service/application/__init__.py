"""Use cases of the query side (projection, queries) and the ports they need."""
