"""``manage.py migrate_clickhouse``: create or upgrade the plugin's ClickHouse schema."""

from django.core.management.base import BaseCommand, CommandError

from ...analytics.model import sync_settings
from ...clickhouse import ClickHouseError
from ...clickhouse.migrate import MigrationRunner
from ...tracking.retention import sync_all
from ..arguments import RawHelpMixin
from ..options import add_connection_arguments, clickhouse_for


class Command(RawHelpMixin, BaseCommand):
    help = (
        "Create or upgrade the ClickHouse tables this plugin writes to.\n\n"
        "Applies the plugin's ordered SQL migrations that have not been applied yet and records each "
        "in <database>.aspects_schema_migrations, so running it twice is harmless; a migration "
        "holding only views (first line '-- repeatable: views') is applied again whenever an upgrade "
        "changes it. Run it after every "
        "upgrade of the plugin, before enabling sinks. It also sets the tracking_events TTL from "
        "ASPECTS_TRACKING_TTL_DAYS and the tracking_rejects TTL from ASPECTS_TRACKING_REJECTS_TTL_DAYS "
        "(only when one changed: a TTL change rewrites every part's TTL data), and copies the at-risk "
        "settings (ASPECTS_AT_RISK_INACTIVE_DAYS...) into analytics_settings.\n\n"
        "Examples:\n"
        "  manage.py lms migrate_clickhouse                  # apply what is pending\n"
        "  manage.py lms migrate_clickhouse --dry-run        # print the SQL, change nothing\n"
        "  manage.py lms migrate_clickhouse --cluster main   # ON CLUSTER 'main', Replicated engines\n"
        "  manage.py lms migrate_clickhouse --list           # show applied and pending migrations"
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="print the SQL that would run; change nothing")
        parser.add_argument("--list", action="store_true", help="list migrations with their state and exit")
        parser.add_argument(
            "--cluster",
            help="ClickHouse cluster name: renders ON CLUSTER and Replicated* engines "
            "(default: EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG['cluster'], if set)",
        )
        add_connection_arguments(parser)

    def handle(self, *args, **options):
        clickhouse = clickhouse_for(options)
        from django.conf import settings  # pylint: disable=import-outside-toplevel

        cluster = options["cluster"] or settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG.get("cluster")
        try:
            runner = MigrationRunner(clickhouse, cluster=cluster)
            if options["list"]:
                pending = {migration.name for migration in runner.pending()}
                for migration in runner.migrations:
                    state = "pending" if migration.name in pending else "applied"
                    self.stdout.write(f"[{state:7}] {migration.name}")
                return
            if options["dry_run"]:
                for statement in runner.plan():
                    self.stdout.write(statement.rstrip() + ";\n")
                if not runner.pending():  # (otherwise the database or the table may not exist yet)
                    for statement, _ in sync_all(clickhouse, cluster, dry_run=True):
                        if statement:
                            self.stdout.write(statement + ";\n")
                return
            for name in runner.changed():
                self.stderr.write(f"warning: applied migration {name} was edited since; it is not re-applied")
            done = runner.run()
            clickhouse.forget_schema()
            for name in done:
                self.stdout.write(f"applied {name}")
            if not done:
                self.stdout.write("ClickHouse schema is up to date; nothing to apply")
            for _, retention in sync_all(clickhouse, cluster):
                self.stdout.write(retention)
            self.stdout.write(sync_settings(clickhouse))
        except (ClickHouseError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
