"""Dev tooling, apart from the services: the embedded protocol servers and `order-platform dev`.

Production code never imports it (an import-linter contract in `pyproject.toml`); the CLI
reaches it only for the `dev` command, and the tests and the benchmark for their servers.
"""
