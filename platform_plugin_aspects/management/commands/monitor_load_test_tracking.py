"""``manage.py lms monitor_load_test_tracking``: sample delivery lag during a load test, until it drains."""

import json
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Min
from django.utils import timezone

from ...clickhouse import ClickHouseError
from ...models import OutboxEntry
from ..arguments import RawHelpMixin, non_negative_float, positive_int
from ..interrupt import ResumableCommand
from ..options import add_connection_arguments, clickhouse_for
from .load_test_tracking_events import runs_table, stats_table


def find_run(clickhouse, run_id, recent_secs):
    """``(run_id, ended)``: the given run, else the newest unfinished one, else one that ended recently."""
    where = "run_id = {run:String}" if run_id else "1"
    rows = clickhouse.query(
        f"SELECT run_id, countIf(event_type = 'end') > 0 AS ended, max(timestamp) AS last "
        f"FROM {clickhouse.qualified(runs_table())} WHERE {where} GROUP BY run_id "
        # Unfinished runs first; a finished one only if it ended within `recent_secs`.
        "HAVING NOT ended OR last >= now64(6) - toIntervalSecond({recent:UInt32}) OR {explicit:Bool} "
        "ORDER BY ended, min(timestamp) DESC LIMIT 1",
        {"run": run_id or "", "recent": int(recent_secs), "explicit": bool(run_id)},
    )
    return (rows[0][0], bool(rows[0][1])) if rows else (None, False)


def run_ended(clickhouse, run_id):
    """Whether the run has recorded its end."""
    return clickhouse.query(
        f"SELECT count() FROM {clickhouse.qualified(runs_table())} "
        "WHERE run_id = {run:String} AND event_type = 'end'",
        {"run": run_id},
    )[0][0] > 0


def celery_queue_lengths(queues):
    """``{queue: length}`` when the broker is Redis (the platform's usual setup), else {}."""
    url = getattr(settings, "CELERY_BROKER_URL", None) or getattr(settings, "BROKER_URL", None) or ""
    if not url.startswith(("redis://", "rediss://")):
        return {}
    import redis  # pylint: disable=import-outside-toplevel

    client = redis.Redis.from_url(url, socket_timeout=2)
    try:
        return {queue: client.llen(queue) for queue in queues}
    finally:
        client.close()


def sample(clickhouse, queues):
    """One set of lag statistics; ``lag_secs`` is the age of the oldest undelivered change (0 when none)."""
    now = timezone.now()
    waiting = OutboxEntry.objects.filter(failed=False)
    oldest = waiting.aggregate(oldest=Min("created"))["oldest"]
    stats = {
        "at": now.isoformat(),
        "outbox_waiting": waiting.count(),
        "outbox_failed": OutboxEntry.objects.filter(failed=True).count(),
        "lag_secs": round((now - oldest).total_seconds(), 3) if oldest else 0.0,
    }
    try:
        stats["celery_queues"] = celery_queue_lengths(queues)
    except Exception as exc:  # pylint: disable=broad-except  # a monitor reports, it does not crash
        stats["celery_error"] = str(exc)[:300]
    rows, newest = clickhouse.query(
        f"SELECT count(), max(version) FROM {clickhouse.qualified('course_enrollment')}")[0]
    stats["course_enrollment_rows"] = rows
    stats["course_enrollment_age_secs"] = round(time.time() - newest / 1e9, 3) if newest else None
    return stats


def drained(stats):
    """No change waiting anywhere we can see."""
    return stats["outbox_waiting"] == 0 and not any(stats.get("celery_queues", {}).values())


class Command(ResumableCommand, RawHelpMixin, BaseCommand):
    resume_hint = "samples so far are in load_test_stats: run manage.py {name} --run_id <run> again to keep watching"

    help = (
        "Watch a load test (load_test_tracking_events) and record how far delivery lags behind.\n\n"
        "Every --sleep_time seconds it samples: changes waiting in the outbox and the age of the oldest "
        "(lag_secs), entries ClickHouse rejected, the Celery queue lengths when the broker is Redis, and rows "
        "and freshness of course_enrollment. "
        "Each sample is printed and stored as JSON in load_test_stats. It stops once the run has ended and "
        "nothing is waiting.\n\n"
        "Examples:\n"
        "  manage.py lms monitor_load_test_tracking                       # the newest unfinished run\n"
        "  manage.py lms monitor_load_test_tracking --run_id 3f2a... --sleep_time 2\n"
        "  manage.py lms monitor_load_test_tracking --queues edx.lms.core.default aspects.lms\n\n"
        "Report (in ClickHouse):\n"
        "  SELECT run_id, max(JSONExtractFloat(stats, 'lag_secs')) AS worst_lag,\n"
        "         quantile(0.95)(JSONExtractFloat(stats, 'lag_secs')) AS p95_lag\n"
        "  FROM event_sink.load_test_stats GROUP BY run_id\n"
    )

    def add_arguments(self, parser):
        parser.add_argument("--sleep_time", type=non_negative_float, default=10.0,
                            help="seconds between samples (default 10)")
        parser.add_argument("--run_id", help="the run to watch (default: the newest unfinished run)")
        parser.add_argument("--wait", type=non_negative_float, default=60.0,
                            help="seconds to wait for a run to start, and how recently a finished run may have "
                                 "ended to still be picked (default 60)")
        parser.add_argument("--queues", nargs="+",
                            help="Celery queues to measure (default: ASPECTS_CELERY_QUEUE, or 'celery')")
        parser.add_argument("--max_samples", type=positive_int, help="stop after this many samples in any case")
        add_connection_arguments(parser)

    def handle(self, *args, **options):
        clickhouse = clickhouse_for(options)
        queues = options["queues"] or [getattr(settings, "ASPECTS_CELERY_QUEUE", None) or "celery"]
        try:
            run_id = self.wait_for_run(clickhouse, options["run_id"], options["wait"], options["sleep_time"])
            self.watch(clickhouse, run_id, queues, options["sleep_time"], options["max_samples"])
        except ClickHouseError as exc:
            raise CommandError(str(exc)) from exc

    def wait_for_run(self, clickhouse, run_id, wait, interval):
        """The run to watch, polling up to ``wait`` seconds for one to start."""
        deadline = time.monotonic() + wait
        while True:
            found, _ = find_run(clickhouse, run_id, wait)
            if found:
                self.stdout.write(f"monitoring run {found}")
                return found
            if time.monotonic() >= deadline:
                raise CommandError(f"No load test run {'with id ' + run_id if run_id else 'in progress'} "
                                   f"(waited {wait:.0f}s); start load_test_tracking_events first")
            time.sleep(min(max(interval, 0.5), max(deadline - time.monotonic(), 0)))

    def watch(self, clickhouse, run_id, queues, interval, max_samples):
        """Sample until the run ended and nothing waits (or ``max_samples``)."""
        taken = 0
        while True:
            started = time.monotonic()
            ended = run_ended(clickhouse, run_id)
            stats = sample(clickhouse, queues)
            stats["run_ended"] = ended
            clickhouse.insert(stats_table(), [[run_id, timezone.now(), json.dumps(stats, sort_keys=True)]],
                              ["run_id", "timestamp", "stats"])
            taken += 1
            self.stdout.write(f"{stats['at'][11:19]} waiting {stats['outbox_waiting']} lag {stats['lag_secs']:.1f}s "
                              f"rejected {stats['outbox_failed']} celery {stats.get('celery_queues', '-')} "
                              f"rows {stats['course_enrollment_rows']}" + (" (run ended)" if ended else ""))
            if ended and drained(stats):
                self.stdout.write(f"run {run_id} ended and delivery caught up after {taken} samples")
                return
            if max_samples and taken >= max_samples:
                self.stdout.write(f"stopped after {taken} samples; lag not zero yet")
                return
            # Never a negative sleep: if sampling took longer than the interval, sample again at once.
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
