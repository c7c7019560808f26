"""
The sinks: one per platform model, registered by name.

Importing this package registers them all; use :func:`get_sink` / :func:`all_sinks`.
"""

from . import course, learners, tags  # noqa: F401  (registration)
from .base import META_COLUMNS, RowBatch, Sink, all_sinks, get_sink  # noqa: F401
