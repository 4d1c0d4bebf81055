"""Terminal events without the store: the per-terminal hub and the PostgreSQL listener (cross-instance fan-out)."""
