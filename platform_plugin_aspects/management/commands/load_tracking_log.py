"""``manage.py lms load_tracking_log``: load past tracking.log files into ClickHouse."""

import os

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ...clickhouse import ClickHouseError
from ...tracking.loader import LogLoader
from ...tracking.retention import sync_all
from ..arguments import RawHelpMixin
from ..interrupt import ResumableCommand
from ..options import add_connection_arguments, clickhouse_for


class Command(ResumableCommand, RawHelpMixin, BaseCommand):
    resume_hint = ("each file's position is checkpointed after every stored batch: run manage.py {name} again "
                   "with the same files to resume")

    help = (
        "Load past tracking-log files into <database>.tracking_events.\n\n"
        "Accepts files and globs, plain or gzip-rotated (tracking.log, tracking.log.1,\n"
        "tracking.log.2.gz...). Lines may be raw JSON or carry a logger prefix before the JSON\n"
        "('... [tracking] ... {...}').\n\n"
        "Safe to interrupt and re-run: each file's position is checkpointed in\n"
        "<database>.tracking_load_checkpoints after every batch; the next run resumes where it\n"
        "stopped, even after the file was rotated and gzipped.\n\n"
        "Safe to repeat: every event has an id derived from its content, so an event loaded twice,\n"
        "or also received live, counts once when you query with FINAL or uniqExact(event_id).\n\n"
        "Lines that cannot be stored (malformed JSON, not UTF-8, no time, larger than\n"
        "ASPECTS_TRACKING_MAX_EVENT_BYTES) go to <database>.tracking_rejects with the reason, file\n"
        "and byte offset; loading never stops on them.\n\n"
        "Examples:\n"
        "  manage.py lms load_tracking_log /openedx/data/logs/tracking.log*\n"
        "  manage.py lms load_tracking_log '/var/log/tracking/*.gz' --workers 4 --batch-size 20000\n"
        "  manage.py lms load_tracking_log tracking.log --restart        # ignore checkpoints, read everything\n"
        "  manage.py lms load_tracking_log --apply-ttl                   # apply the *_TTL_DAYS settings"
    )

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", help="tracking-log files or globs (quote globs to let us expand them)")
        parser.add_argument("--batch-size", type=int, default=20_000,
                            help="lines per chunk, i.e. per INSERT (default 20000)")
        parser.add_argument("--max-events", type=int,
                            help="stop after this many lines (checkpointed: the next run continues from there)")
        parser.add_argument("--restart", action="store_true",
                            help="ignore saved checkpoints and read the files from the start (no duplicates result)")
        parser.add_argument("--workers", type=int, default=min(os.cpu_count() or 1, 4),
                            help="processes that parse and insert in parallel (default: CPUs, at most 4; "
                            "0 parses in this process)")
        parser.add_argument("--no-progress", action="store_true", help="do not print the progress line")
        parser.add_argument("--apply-ttl", action="store_true",
                            help="set (or remove) the tables' TTL from ASPECTS_TRACKING_TTL_DAYS and "
                            "ASPECTS_TRACKING_REJECTS_TTL_DAYS, then load any paths")
        add_connection_arguments(parser)

    def handle(self, *args, **options):
        if not options["paths"] and not options["apply_ttl"]:
            raise CommandError("give at least one tracking-log file or glob (see --help)")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1")
        clickhouse = clickhouse_for(options)
        try:
            if options["apply_ttl"]:
                self._apply_ttl(clickhouse)
            if options["paths"]:
                self._load(clickhouse, options)
        except FileNotFoundError as exc:
            raise CommandError(str(exc)) from exc
        except ClickHouseError as exc:
            raise CommandError(f"{exc} (progress so far is checkpointed; re-run to continue)") from exc

    def _apply_ttl(self, clickhouse):
        for _, message in sync_all(clickhouse, cluster=settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG.get("cluster")):
            self.stdout.write(message)

    def _load(self, clickhouse, options):
        loader = LogLoader(
            clickhouse,
            batch_size=options["batch_size"],
            max_event_bytes=settings.ASPECTS_TRACKING_MAX_EVENT_BYTES,
            max_events=options["max_events"],
            restart=options["restart"],
            progress_stream=self.stderr._out,  # pylint: disable=protected-access
            show_progress=not options["no_progress"],
            workers=options["workers"],
        )
        result = loader.load(options["paths"])
        for file in result.files:
            state = f"skipped ({file.skipped})" if file.skipped else f"{file.events} events, {file.rejects} rejected"
            self.stdout.write(f"{file.path}: {state}")
        rate = result.events / result.seconds if result.seconds else 0
        self.stdout.write(
            f"{result.events} events stored, {result.rejects} lines rejected (see tracking_rejects) in "
            f"{result.seconds:.1f}s ({rate:,.0f} events/s, "
            f"{result.bytes_read / 1e6 / max(result.seconds, 1e-9):.1f} MB/s)"
        )
        if result.interrupted:
            self.stdout.write("stopped at --max-events; run again to continue from the checkpoint")
