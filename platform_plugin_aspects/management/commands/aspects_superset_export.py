"""``manage.py lms aspects_superset_export``: write dashboards edited in Superset back as asset files."""

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ...superset.bundle import ASSETS_DIR, AssetError, load_assets
from ...superset.client import SupersetError
from ...superset.sync import SyncError, export_assets
from ..arguments import RawHelpMixin
from .aspects_superset_sync import superset_client


class Command(RawHelpMixin, BaseCommand):
    help = (
        "Export the shipped dashboards from Superset (after editing them there) as normalized asset files: "
        "Superset's YAML with sorted keys, no numeric ids, no passwords, the ClickHouse connection and "
        "database name as shipped, and the existing file names kept, so the change is a readable diff. "
        "Translated copies are not exported (they are generated from the English one at sync time).\n\n"
        "Examples:\n"
        "  manage.py lms aspects_superset_export                          # rewrite the package's assets\n"
        "  manage.py lms aspects_superset_export --output /tmp/assets     # somewhere else\n"
        "  manage.py lms aspects_superset_export --only course && git diff platform_plugin_aspects/superset/assets\n"
    )

    def add_arguments(self, parser):
        parser.add_argument("--output", default=str(ASSETS_DIR), help=f"where to write (default {ASSETS_DIR})")
        parser.add_argument("--only", nargs="+", metavar="NAME", default=None, help="export only these dashboards")

    def handle(self, *args, **options):
        if not settings.ASPECTS_ENABLE_PII:
            self.stdout.write(self.style.WARNING(
                "Warning: ASPECTS_ENABLE_PII is off, so this Superset has no PII-only charts: the exported "
                "layouts leave them out. Export from a Superset synced with ASPECTS_ENABLE_PII on."))
        try:
            assets = load_assets()
            written = export_assets(superset_client(), assets, Path(options["output"]), options["only"])
        except (AssetError, SupersetError, SyncError) as exc:
            raise CommandError(str(exc), returncode=1) from None
        for path, state in written:
            self.stdout.write(f"  {state:9} {path}")
        changed = sum(1 for _, state in written if state in ("created", "updated"))
        self.stdout.write(f"{changed} file(s) written to {options['output']}.")
