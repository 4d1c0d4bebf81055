"""Terminal events: the per-terminal hub, replay from the outbox by sequence, and cross-instance fan-out."""
