"""Celery tasks. They stay thin: the work lives in ``delivery`` and ``sinks``."""

import logging
import time

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

LAST_FLUSH_KEY = "aspects:outbox:last-flush"
FOLLOW_UP_KEY = "aspects:outbox:follow-up"


@shared_task(bind=True, ignore_result=True, max_retries=None)
def flush_outbox(self, follow_up=False):
    """
    Deliver what the outbox holds; if ClickHouse is down, try again with back-off.

    Flushes start at most once per ASPECTS_MIN_FLUSH_INTERVAL_SECS (across workers sharing the
    Django cache), so a busy site sends about one insert per table per interval instead of one per
    scheduled task. A task that arrives too early makes sure one follow-up is scheduled for the end
    of the interval, so no change waits longer than that. The follow-up obeys the same rule: if
    another task flushed meanwhile, it only schedules the next follow-up.
    """
    from .delivery.flusher import backoff, drain  # pylint: disable=import-outside-toplevel
    from .delivery.outbox import flush_queue  # pylint: disable=import-outside-toplevel

    interval = float(getattr(settings, "ASPECTS_MIN_FLUSH_INTERVAL_SECS", 0.5))
    now = time.time()
    if follow_up:
        cache.delete(FOLLOW_UP_KEY)
    if not self.request.is_eager and interval > 0:
        since_last = now - float(cache.get(LAST_FLUSH_KEY, 0))
        if since_last < interval:
            # Someone flushed moments ago. One follow-up (at most) covers every change until then.
            if cache.add(FOLLOW_UP_KEY, 1, timeout=interval + 60):
                flush_outbox.apply_async(kwargs={"follow_up": True}, countdown=interval - since_last,
                                         queue=flush_queue())
            return None
    cache.set(LAST_FLUSH_KEY, now, timeout=3600)
    result = drain(backlog_only=True)
    if result.error and not self.request.is_eager:
        raise self.retry(countdown=backoff(self.request.retries + 1))
    return None


@shared_task(ignore_result=True)
def drain_outbox():
    """Periodic safety net (schedule it with Celery beat): deliver anything left behind."""
    from .delivery.flusher import drain  # pylint: disable=import-outside-toplevel

    drain(max_seconds=50)
