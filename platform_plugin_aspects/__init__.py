"""Open edX plugin that streams LMS and Studio state and tracking events into ClickHouse."""

__version__ = "0.1.0"
