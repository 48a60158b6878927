"""The HTTP API of the query side (FastAPI)."""
