"""Celery tasks. They stay thin: the work lives in ``delivery`` and ``sinks``."""

import logging

from celery import shared_task

log = logging.getLogger(__name__)


@shared_task(bind=True, ignore_result=True, max_retries=None)
def flush_outbox(self):
    """Deliver what the outbox holds; if ClickHouse is down, try again with back-off."""
    from .delivery.flusher import backoff, drain  # pylint: disable=import-outside-toplevel

    result = drain()
    if result.error and not self.request.is_eager:
        raise self.retry(countdown=backoff(self.request.retries + 1))
    return None


@shared_task(ignore_result=True)
def drain_outbox():
    """Periodic safety net (schedule it with Celery beat): deliver anything left behind."""
    from .delivery.flusher import drain  # pylint: disable=import-outside-toplevel

    drain(max_seconds=50)
