"""Celery tasks. They stay thin: the work lives in ``delivery`` and ``sinks``."""

import logging
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

LAST_INSERT_KEY = "aspects:outbox:last-insert"  # epoch seconds of the last scheduled flush's insert
LEAD_KEY = "aspects:outbox:lead"  # seconds the last flush needed to claim and build before inserting
FOLLOW_UP_KEY = "aspects:outbox:follow-up"


@shared_task(bind=True, ignore_result=True, max_retries=None)
def flush_outbox(self, follow_up=False):
    """
    Deliver what the outbox holds; if ClickHouse is down, try again with back-off.

    Inserts happen at most once per ASPECTS_MIN_FLUSH_INTERVAL_SECS (across workers sharing the
    Django cache), so a busy site sends about one insert per table per interval instead of one per
    scheduled task. The interval is kept between *inserts*, and a flush starts a little ahead of
    its insert slot (by what the previous flush needed to claim and build), then keeps claiming
    until the slot: the rows go out on time and hold every change committed until moments before.

    A task that arrives too early makes sure one follow-up is scheduled for the next start, so no
    change waits longer than an interval. The follow-up obeys the same rule: if another task took
    the slot meanwhile, it only schedules the next follow-up.
    """
    from .delivery.flusher import backoff, drain  # pylint: disable=import-outside-toplevel
    from .delivery.outbox import flush_queue  # pylint: disable=import-outside-toplevel

    interval = float(getattr(settings, "ASPECTS_MIN_FLUSH_INTERVAL_SECS", 1.0))
    now = time.time()
    if follow_up:
        cache.delete(FOLLOW_UP_KEY)
    insert_slot = None
    if not self.request.is_eager and interval > 0:
        last_insert = float(cache.get(LAST_INSERT_KEY, 0))
        insert_slot = last_insert + interval
        start_at = insert_slot - float(cache.get(LEAD_KEY, 0))
        if now < start_at:
            # An insert happened moments ago. One follow-up (at most) covers every change until the next.
            if cache.add(FOLLOW_UP_KEY, 1, timeout=interval + 60):
                flush_outbox.apply_async(kwargs={"follow_up": True}, countdown=start_at - now, queue=flush_queue())
            return None
        cache.set(LAST_INSERT_KEY, max(now, insert_slot), timeout=3600)  # this slot is taken
    result = drain(backlog_only=True, insert_not_before=insert_slot)
    if insert_slot is not None:
        # The real insert time (a slow flush may be late), or the old one back if nothing was sent.
        cache.set(LAST_INSERT_KEY, result.inserted_at or last_insert, timeout=3600)
        if result.inserts:
            # Start the next flush this far ahead of its slot: what this one needed, with a margin,
            # but forget a slow flush only gradually (one late flush delays a whole interval's changes).
            lead = max(1.5 * result.ready_secs + 0.02, 0.8 * float(cache.get(LEAD_KEY, 0)))
            cache.set(LEAD_KEY, min(interval / 2, lead), timeout=3600)
    if result.error and not self.request.is_eager:
        raise self.retry(countdown=backoff(self.request.retries + 1))
    return None


@shared_task(ignore_result=True)
def drain_outbox():
    """Periodic safety net (schedule it with Celery beat): deliver anything left behind."""
    from .delivery.flusher import drain  # pylint: disable=import-outside-toplevel

    drain(max_seconds=50)
