"""
Receivers: openedx-events first, the platform's Django signals where no openedx-event exists.

Filled in by the sinks work; the foundation only provides the entry point the AppConfig calls.
"""


def connect_receivers():
    """Connect every receiver the enabled plugin needs (idempotent)."""
