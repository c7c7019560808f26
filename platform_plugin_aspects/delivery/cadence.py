"""
When inserts may go out: at most one per ASPECTS_MIN_FLUSH_INTERVAL_SECS, across every process.

A row is queryable only once its insert lands, so the schedule is kept between *inserts*, not
between flush starts. A flush starts a little ahead of its insert slot (by what the previous flush
needed to claim and build), then keeps claiming until the slot (``flusher.flush``'s
``insert_not_before``): the insert goes out on time and holds every change committed until
moments before it. Celery's ``flush_outbox`` task and ``flush_clickhouse_outbox --loop`` share
this schedule through the Django cache, so any mix of them keeps the cadence.
"""

import time

from django.conf import settings
from django.core.cache import cache

from .flusher import drain

LAST_INSERT_KEY = "aspects:outbox:last-insert"  # epoch seconds of the last scheduled insert
LEAD_KEY = "aspects:outbox:lead"  # how far ahead of its slot the next flush starts
FLUSHING_KEY = "aspects:outbox:flushing"  # held by the one flush that owns the coming slot
FLUSHING_LOCK_SECS = 60  # longer than a flush (drain stops at 30 s); frees the slot if a worker dies
MIN_LEAD_SECS = 0.02


class Cadence:
    """The shared insert schedule; one instance per flush attempt."""

    def __init__(self, interval=None):
        self.interval = float(getattr(settings, "ASPECTS_MIN_FLUSH_INTERVAL_SECS", 1.0) if interval is None
                              else interval)
        self.previous_insert = 0.0
        self.slot = None  # the insert time this flush owns (None: insert at once)
        self.owns_slot = False

    def seconds_until_start(self):
        """How long until a flush may start (0 or less: now). Always 0 without a cadence."""
        if self.interval <= 0:
            return 0.0
        self.previous_insert = float(cache.get(LAST_INSERT_KEY, 0))
        start_at = self.previous_insert + self.interval - float(cache.get(LEAD_KEY, 0))
        return start_at - time.time()

    def take_slot(self):
        """
        Own the next insert slot, unless another process does (returns whether this one does).

        Two workers can both find it is time to start; the first to add the flushing key wins
        (``cache.add`` is atomic in memcached and Redis) and the other tries again an interval later.
        """
        if self.interval <= 0:
            return True
        if not cache.add(FLUSHING_KEY, 1, timeout=FLUSHING_LOCK_SECS):
            return False
        self.owns_slot = True
        self.slot = max(time.time(), self.previous_insert + self.interval)
        cache.set(LAST_INSERT_KEY, self.slot, timeout=3600)  # other processes now aim at the one after
        return True

    def record(self, result):
        """After the flush: when it really inserted (a slow one may be late), and the lead it needed."""
        if not self.owns_slot:
            return
        # Nothing sent: give the slot back, so the next change does not wait for an empty one.
        cache.set(LAST_INSERT_KEY, result.inserted_at or self.previous_insert, timeout=3600)
        if result.inserts:
            # What this flush needed with a margin, but a slow flush is forgotten only gradually
            # (one late flush delays a whole interval's changes). Never more than half the interval:
            # a flush holds its worker while it waits.
            lead = max(1.5 * result.ready_secs + MIN_LEAD_SECS, 0.8 * float(cache.get(LEAD_KEY, 0)))
            cache.set(LEAD_KEY, min(self.interval / 2, lead), timeout=3600)

    def deliver(self, **drain_options):
        """
        Drain the outbox in this process's turn: ``(result, 0)``, or ``(None, seconds to wait)``.

        The one sequence every deliverer follows (the Celery task, ``flush_clickhouse_outbox
        --loop``): wait for the start, own the slot, insert at it, record, release.
        """
        wait = self.seconds_until_start()
        if wait > 0:
            return None, wait
        if not self.take_slot():
            return None, self.interval  # another deliverer is flushing right now
        try:
            result = drain(backlog_only=True, insert_not_before=self.slot, **drain_options)
            self.record(result)
        finally:
            self.release()
        return result, 0.0

    def release(self):
        """Let the next flush take a slot (always call it, even when the flush failed)."""
        if self.owns_slot:
            cache.delete(FLUSHING_KEY)
            self.owns_slot = False
