"""Cross-cutting infrastructure every service uses: settings, logging, HTTP errors, health."""
