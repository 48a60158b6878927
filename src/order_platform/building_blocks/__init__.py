"""Cross-cutting infrastructure every service uses, one sub-package per concern: `http`, `auth`,
`kafka`, `mongo`, and `runtime` (settings, logging, tracing, health, supervised tasks)."""
