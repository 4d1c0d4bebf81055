"""Use cases: each owns its unit of work and is the only layer that calls adapters and repositories."""
