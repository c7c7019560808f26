"""
How changes travel: receiver → outbox row (same DB transaction) → flusher → sinks build rows →
one insert per table → outbox rows deleted.
"""
