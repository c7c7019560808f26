"""``manage.py lms aspects_rebuild_analytics``: fill the analytics model from stored tracking events."""

import shlex
import sys
from datetime import datetime, timezone

from django.core.management.base import BaseCommand, CommandError

from ...analytics.rebuild import Rebuild
from ...clickhouse import ClickHouseError
from ...platform import course_key_from_text
from ..arguments import RawHelpMixin, positive_int
from ..options import add_connection_arguments, clickhouse_for


def _since(text):
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"--since {text!r} is not a date (YYYY-MM-DD or an ISO 8601 time)") from None
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Command(RawHelpMixin, BaseCommand):
    help = (
        "Fill the course analytics model (the analytics_* tables) from the events already stored in\n"
        "<database>.tracking_events.\n\n"
        "New events reach the model by themselves (materialized views); run this once after the\n"
        "first deploy of the model, after loading old logs into a database without it, or to\n"
        "correct rows stored before events named their block (their block_id is filled in).\n"
        "migrate_clickhouse never does it for you.\n\n"
        "Works in chunks (one course, one month at most; days when a month holds more than\n"
        "--chunk-events events), prints progress and ETA, and records each finished chunk: if it is\n"
        "interrupted (Ctrl-C, a crash), run the same command again to resume. Safe to repeat: the\n"
        "model never counts an event twice.\n\n"
        "Examples:\n"
        "  manage.py lms aspects_rebuild_analytics\n"
        "  manage.py lms aspects_rebuild_analytics --course course-v1:OpenedX+DemoX+2026\n"
        "  manage.py lms aspects_rebuild_analytics --since 2026-09-01\n"
        "  manage.py lms aspects_rebuild_analytics --restart          # ignore what an interrupted run did"
    )

    def add_arguments(self, parser):
        parser.add_argument("--course", help="only this course key")
        parser.add_argument("--since", help="only events at or after this date/time (UTC), e.g. 2026-09-01")
        parser.add_argument("--chunk-events", type=positive_int, default=1_000_000,
                            help="most events per chunk when a course's month is split by days (default 1000000)")
        parser.add_argument("--restart", action="store_true",
                            help="forget the chunks an interrupted run with the same --course/--since finished")
        add_connection_arguments(parser)

    def handle(self, *args, **options):
        course = options["course"]
        if course:
            try:
                course = str(course_key_from_text(course))
            except ValueError as exc:
                raise CommandError(f"--course: {exc}") from None
        since = _since(options["since"]) if options["since"] else None
        rebuild = Rebuild(clickhouse_for(options), course, since, options["chunk_events"])
        try:
            progress = rebuild.run(restart=options["restart"], report=lambda p: self.stdout.write(p.line()))
        except KeyboardInterrupt:
            self.stderr.write(self._resume_hint(rebuild))
            sys.exit(130)
        except (ClickHouseError, RuntimeError) as exc:
            raise CommandError(f"{exc} (finished chunks are recorded; run the same command again to resume)") \
                from exc
        skipped = f", {progress.skipped_chunks} finished by an earlier run" if progress.skipped_chunks else ""
        self.stdout.write(
            f"Analytics model rebuilt: {progress.done_chunks} chunks, {progress.total_events:,} events{skipped}; "
            f"{progress.fixed:,} stored events got their block id.")

    @staticmethod
    def _resume_hint(rebuild):
        done = len(rebuild.done())
        again = ["manage.py", "lms", "aspects_rebuild_analytics"] + [
            arg for flag, value in (("--course", rebuild.course_key), ("--since", rebuild.since and
                                                                        rebuild.since.isoformat()))
            if value for arg in (flag, value)]
        return (f"\nInterrupted: {done} chunk(s) finished and recorded. To resume, run the same command again:\n"
                f"  {shlex.join(again)}")
