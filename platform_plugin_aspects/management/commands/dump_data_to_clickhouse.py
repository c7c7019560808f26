"""``manage.py cms dump_data_to_clickhouse``: backfill existing platform objects into ClickHouse."""

from django.core.management.base import BaseCommand, CommandError

from ...backfill import DEFAULT_BATCH_SIZE, DEFAULT_BATCH_SIZES, Backfill
from ...clickhouse import ClickHouseError
from ...progress import Progress
from ...sinks import all_sinks, get_sink
from ..arguments import RawHelpMixin, non_negative_float, positive_int
from ..interrupt import ResumableCommand
from ..options import add_connection_arguments, clickhouse_for


def split_keys(values):
    """``--ids a b`` and ``--ids a,b`` alike (course keys contain no commas)."""
    return [key for value in values or [] for key in value.split(",") if key.strip()] or None


def dumpable_names():
    """Objects --object accepts."""
    return [sink.name for sink in all_sinks() if sink.dumpable]


def check_dumpable(sink):
    """CommandError unless ``sink`` may be backfilled here and now (nothing is written before this)."""
    if not sink.dumpable:
        raise CommandError(
            f"{sink.name} cannot be dumped: it is not a table but the user fan-out (retirement purges and "
            f"username refreshes); dumping it would rewrite or delete user data. Nothing was written. "
            f"Dumpable objects: {', '.join(dumpable_names())}"
        )
    if sink.model() is None:
        raise CommandError(f"{sink.name}: its model is not installed here (EVENT_SINK_CLICKHOUSE_MODEL_CONFIG"
                           f"['{sink.model_key or sink.name}']); nothing was written")
    if sink.pii and not sink.is_enabled():
        raise CommandError(
            f"{sink.name} copies personal data and its sink is off, so it is not dumped. Enable it first "
            f"(EVENT_SINK_CLICKHOUSE_{sink.name.upper()}_ENABLED = True or the waffle flag "
            f"event_sink_clickhouse.{sink.name}.enabled). Nothing was written."
        )


class Command(ResumableCommand, RawHelpMixin, BaseCommand):
    resume_hint = ("every page written is checkpointed: run manage.py {name} again with the same arguments to "
                   "resume after the last one")

    help = (
        "Copy objects that already exist in the platform into ClickHouse (a backfill).\n\n"
        "Rows are built and inserted exactly as live delivery does, so running it while the site is live, "
        "or twice, is harmless: ClickHouse keeps one current row per object. Objects are read in primary-key "
        "pages (never OFFSET); after each page a checkpoint is saved in ClickHouse (backfill_checkpoints), so "
        "an interrupted run picks up after the last page it wrote when you run the same command again. "
        "Courses that ClickHouse already has at the same 'modified' time are skipped (one query per page) "
        "unless --force. Progress, with rate and ETA, goes to stderr.\n\n"
        "Objects: course_overviews (with course_blocks), taxonomy, tag, object_tag, course_enrollment, "
        "course_grade, user_profile and external_id (these two copy personal data and are refused unless "
        "their sink is enabled). auth_user is never dumpable.\n\n"
        "Examples:\n"
        "  manage.py cms dump_data_to_clickhouse --all                       # every enabled object, in order\n"
        "  manage.py cms dump_data_to_clickhouse --all --dry_run             # what would be dumped\n"
        "  manage.py cms dump_data_to_clickhouse --object course_enrollment  # resumes if interrupted\n"
        "  manage.py cms dump_data_to_clickhouse --object course_enrollment --restart   # ignore the checkpoint\n"
        "  manage.py cms dump_data_to_clickhouse --object course_overviews --force      # rebuild every course\n"
        "  manage.py cms dump_data_to_clickhouse --object course_overviews \\\n"
        "      --ids course-v1:OpenedX+DemoX+2026 course-v1:OpenedX+Other+2026\n"
        "  manage.py cms dump_data_to_clickhouse --object course_enrollment --start_pk 500000 --limit 1000\n"
        "  manage.py cms dump_data_to_clickhouse --object user_profile --batch_size 2000 --sleep_time 0.5 \\\n"
        "      --url https://clickhouse.example.com:8443 --username backfill --password ...\n"
    )

    def add_arguments(self, parser):
        what = parser.add_argument_group("what to dump")
        what.add_argument("--object", help="one object (sink) name, e.g. course_enrollment")
        what.add_argument("--all", action="store_true", help="every enabled object, courses first, users last")
        what.add_argument("--start_pk", metavar="PK",
                          help="start after this primary key (an integer, or a course key for course_overviews)")
        what.add_argument("--ids", nargs="+", metavar="PK",
                          help="only these primary keys (space- or comma-separated); does not touch the checkpoint")
        what.add_argument("--ids_to_skip", nargs="+", metavar="PK", help="never these primary keys")
        what.add_argument("--force", action="store_true",
                          help="dump courses even when ClickHouse already has them at the same 'modified' time")
        what.add_argument("--limit", type=positive_int,
                          help="dump exactly this many objects (per object), then stop; a rerun continues after them")
        how = parser.add_argument_group("how")
        how.add_argument("--batch_size", type=positive_int,
                         help=f"objects per page and insert (default {DEFAULT_BATCH_SIZE}; "
                              f"{DEFAULT_BATCH_SIZES['course_overviews']} for course_overviews)")
        how.add_argument("--sleep_time", type=non_negative_float, default=1.0,
                         help="seconds to pause after each full page, to spare the LMS database (default 1)")
        how.add_argument("--dry_run", action="store_true",
                         help="count what would be dumped (reads the checkpoint and ClickHouse); write nothing")
        how.add_argument("--restart", action="store_true", help="ignore the saved checkpoint and start from the start")
        add_connection_arguments(parser)

    def handle(self, *args, **options):
        sinks = self.selected_sinks(options)
        clickhouse = clickhouse_for(options)
        if not sinks:
            self.stdout.write("No enabled objects to dump (enable sinks with EVENT_SINK_CLICKHOUSE_<OBJECT>_ENABLED).")
            return
        for sink in sinks:
            try:
                backfill = Backfill(
                    sink, clickhouse, batch_size=options["batch_size"], start_pk=options["start_pk"],
                    ids=split_keys(options["ids"]), skip_ids=split_keys(options["ids_to_skip"]),
                    force=options["force"], limit=options["limit"], sleep_time=options["sleep_time"],
                    dry_run=options["dry_run"], restart=options["restart"], progress=self.progress,
                )
            except ValueError as exc:
                raise CommandError(f"{sink.name}: {exc}") from exc
            self.run_one(backfill, options["dry_run"])
        if options["dry_run"]:
            self.stdout.write("Dry run: nothing was written.")

    def selected_sinks(self, options):
        """The sinks to dump, in order, after every refusal check."""
        if bool(options["object"]) == bool(options["all"]):
            raise CommandError("Give exactly one of --object NAME or --all. Valid objects: "
                               + ", ".join(dumpable_names()))
        if options["all"]:
            if options["ids"] or options["start_pk"]:
                raise CommandError("--ids and --start_pk are keys of one object: use them with --object")
            return [sink for sink in all_sinks() if sink.dumpable and sink.is_enabled()]
        try:
            sink = get_sink(options["object"])
        except KeyError:
            raise CommandError(f"Unknown object {options['object']!r}. Valid objects: "
                               + ", ".join(dumpable_names())) from None
        check_dumpable(sink)
        return [sink]

    def run_one(self, backfill, dry_run):
        """Dump one object; an interruption or a ClickHouse outage says where a rerun will continue."""
        try:
            result = backfill.run()
        except ClickHouseError as exc:
            raise CommandError(f"{backfill.sink.name}: {exc}. Pages written so far are checkpointed; "
                               "run the same command again to resume") from exc
        if result.resumed_after:
            self.stdout.write(f"{result.name}: resumed after pk {result.resumed_after} (saved checkpoint; "
                              "--restart starts over)")
        self.stdout.write(("[dry run] " if dry_run else "") + result.summary())
        if result.rejected:
            self.stderr.write(f"{result.name}: {result.rejected} objects were rejected by ClickHouse; they are kept as "
                              "failed outbox entries with the reason (flush_clickhouse_outbox --list-failed)")
        return result

    def progress(self, label, total):
        """A Progress writing to stderr (a bar on a terminal, plain lines otherwise)."""
        return Progress(lambda text, ending="\n": self.stderr.write(text, style_func=str, ending=ending),
                        label, total, tty=self.stderr.isatty())
