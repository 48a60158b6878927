"""Who may call: bearer tokens checked against the provider's JWKS, scopes, per-caller limits."""
