"""How every HTTP process is served: the app skeleton, problem+json, request bodies, limits."""
