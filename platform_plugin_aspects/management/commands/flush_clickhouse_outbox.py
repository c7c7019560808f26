"""``manage.py flush_clickhouse_outbox``: deliver pending changes now, or keep delivering them."""

import signal
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ...clickhouse import ClickHouseError
from ...delivery.cadence import Cadence
from ...delivery.flusher import drain
from ...models import OutboxEntry
from ..arguments import RawHelpMixin
from ..interrupt import ResumableCommand


class Command(ResumableCommand, RawHelpMixin, BaseCommand):
    resume_hint = ("changes not delivered yet stay in the outbox (a flush cut short is redone, never "
                   "double-counted): run manage.py {name} again to deliver them")
    help = (
        "Deliver the changes waiting in the plugin's outbox to ClickHouse.\n\n"
        "Receivers only record 'this object changed' in the LMS database; a Celery task normally "
        "delivers it within about a second (ASPECTS_MIN_FLUSH_INTERVAL_SECS). Use this command to "
        "drain what is left after an outage, to run delivery without Celery (--loop), or to replay "
        "failed entries (rows ClickHouse refused, rows that could not be built) once the cause is fixed "
        "(--retry-failed).\n\n"
        "Examples:\n"
        "  manage.py lms flush_clickhouse_outbox                # deliver everything due now, then exit\n"
        "  manage.py lms flush_clickhouse_outbox --now          # ignore back-off after an outage\n"
        "  manage.py lms flush_clickhouse_outbox --loop         # a delivery worker without Celery\n"
        "  manage.py lms flush_clickhouse_outbox --list-failed  # failed entries, with the reasons\n"
        "  manage.py lms flush_clickhouse_outbox --retry-failed # queue them again, after the fix"
    )

    def add_arguments(self, parser):
        parser.add_argument("--now", action="store_true", help="deliver entries still in back-off too")
        parser.add_argument("--loop", action="store_true",
                            help="keep running, polling the outbox (SIGTERM stops after the current flush; Ctrl-C "
                                 "stops at once, exit status 130)")
        parser.add_argument("--interval", type=float, default=0.25,
                            help="with --loop, seconds between looks at an empty outbox (inserts themselves keep "
                                 "ASPECTS_MIN_FLUSH_INTERVAL_SECS apart)")
        parser.add_argument("--list-failed", action="store_true",
                            help="show failed entries (rows ClickHouse refused, rows that could not be built) and why")
        parser.add_argument("--retry-failed", action="store_true", help="queue failed entries for another attempt")

    def handle(self, *args, **options):
        if options["list_failed"]:
            for entry in OutboxEntry.objects.filter(failed=True).order_by("id"):
                self.stdout.write(f"{entry.id}\t{entry.sink}\t{entry.object_key}\t{entry.last_error}")
            return
        if options["retry_failed"]:
            count = OutboxEntry.objects.filter(failed=True).update(failed=False, next_attempt_at=timezone.now())
            self.stdout.write(f"{count} failed entries queued again")
        if options["loop"]:
            self._loop(options["interval"], options["now"])
            return
        try:
            result = drain(max_seconds=3600, ignore_schedule=options["now"])
        except ClickHouseError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"delivered {result.delivered}, failed {result.failed}, deferred {result.deferred} "
            f"({result.rows} rows in {result.inserts} inserts); still queued: {OutboxEntry.objects.count()}"
        )
        if result.error:
            raise CommandError(f"ClickHouse unavailable, entries kept for later: {result.error}")

    def _loop(self, idle_poll, ignore_schedule):
        """
        Deliver until stopped, on the same insert cadence as the Celery task (shared schedule).

        SIGTERM (a supervisor stopping the service) ends it after the current flush, exit status 0;
        Ctrl-C interrupts at once (see ``ResumableCommand``).
        """
        stop = {"now": False}

        def request_stop(*_):
            stop["now"] = True

        signal.signal(signal.SIGTERM, request_stop)
        self.stdout.write(f"delivering continuously, at most one insert per table every {Cadence().interval}s "
                          f"(ASPECTS_MIN_FLUSH_INTERVAL_SECS); Ctrl-C to stop")
        while not stop["now"]:
            result, wait = Cadence().deliver(max_seconds=30, ignore_schedule=ignore_schedule)
            if result is None:  # not this process's turn yet
                time.sleep(min(wait, idle_poll))
                continue
            if result.delivered or result.failed or result.error:
                self.stdout.write(f"{timezone.now():%H:%M:%S} delivered {result.delivered} failed {result.failed}"
                                  + (f" error: {result.error}" if result.error else ""))
            if not result.taken or result.error:
                time.sleep(idle_poll)  # nothing due (or ClickHouse down: entries are backing off)
