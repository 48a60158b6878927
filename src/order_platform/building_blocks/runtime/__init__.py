"""What every process runs on: settings, logging, tracing, metrics, health, supervised tasks."""
