"""Celery tasks. They stay thin: the work lives in ``delivery`` and ``sinks``."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.cache import cache

log = logging.getLogger(__name__)

FOLLOW_UP_KEY = "aspects:outbox:follow-up"


@shared_task(bind=True, ignore_result=True, max_retries=None)
def flush_outbox(self, follow_up=False):
    """
    Deliver what the outbox holds; if ClickHouse is down, try again with back-off.

    Inserts keep the shared cadence (``delivery.cadence``: at most one per
    ASPECTS_MIN_FLUSH_INTERVAL_SECS), so a busy site sends one insert per table per interval
    instead of one per scheduled task. A task that arrives too early makes sure one follow-up is
    scheduled for the next start, so no change waits longer than about an interval. The follow-up
    obeys the same rule: if another flush took the slot meanwhile, it only schedules the next one.
    """
    from .delivery.cadence import Cadence  # pylint: disable=import-outside-toplevel
    from .delivery.flusher import backoff  # pylint: disable=import-outside-toplevel
    from .delivery.outbox import flush_queue  # pylint: disable=import-outside-toplevel

    if follow_up:
        cache.delete(FOLLOW_UP_KEY)
    cadence = Cadence(0 if self.request.is_eager else None)
    result, wait = cadence.deliver()
    if result is None:
        # The key outlives the follow-up's due time by a few seconds only: if that task is lost
        # (a broker restart), the next change schedules another soon after.
        if cache.add(FOLLOW_UP_KEY, 1, timeout=int(wait + cadence.interval) + 5):
            flush_outbox.apply_async(kwargs={"follow_up": True}, countdown=wait, queue=flush_queue())
        return None
    if result.error and not self.request.is_eager:
        raise self.retry(countdown=backoff(self.request.retries + 1))
    return None


@shared_task(ignore_result=True)
def record_delivery_health():
    """
    Periodic (schedule it with Celery beat, e.g. every minute): a delivery-health snapshot in
    ClickHouse for the Operator dashboard, what ``aspects_status --record`` writes.
    """
    from .clickhouse import get_clickhouse  # pylint: disable=import-outside-toplevel
    from .management.commands.aspects_status import DEFAULT_MAX_AGE, collect, record  # pylint: disable=import-outside-toplevel

    record(collect({}, DEFAULT_MAX_AGE), get_clickhouse())


@shared_task(ignore_result=True)
def drain_outbox():
    """
    Periodic safety net (schedule it with Celery beat): deliver anything left behind.

    A change whose flush task was lost (a broker restart, a worker killed mid-task) waits in the
    outbox; this asks for a flush like a receiver does, so the insert cadence holds. Entries in
    back-off go out when their time comes, with whichever flush runs then.
    """
    from .delivery.outbox import flush_queue  # pylint: disable=import-outside-toplevel

    flush_outbox.apply_async(queue=flush_queue())


@shared_task(bind=True, ignore_result=True, max_retries=None)
def send_course_digests(self, week=None, course_keys=None):
    """
    Mail the weekly course digests (schedule it with Celery beat, e.g. Mondays 06:00 UTC).

    ``week`` ("2026-W48") defaults to the last complete ISO week. Safe to run any number of times,
    on any number of workers: each digest is claimed in the LMS database before it is sent
    (``digest.sending``). When SMTP failed for some digests, the task runs again for the same week
    after ASPECTS_DIGEST_RETRY_SECS (doubled each time), and only those go out.
    """
    from .digest.sending import DigestRun, retry_delay  # pylint: disable=import-outside-toplevel
    from .digest.weeks import Week  # pylint: disable=import-outside-toplevel

    week = Week.parse(week) if week else Week.last_complete()
    report = DigestRun(week, course_keys).run()
    log.info("Course digests for %s: %s sent, %s to retry, %s failed, %s quiet courses", week, report.sent,
             report.retry, report.failed, report.quiet)
    if report.needs_retry and not self.request.is_eager and self.request.retries < settings.ASPECTS_DIGEST_MAX_ATTEMPTS:
        raise self.retry(kwargs={"week": str(week), "course_keys": course_keys},
                         countdown=retry_delay(self.request.retries + 1))
