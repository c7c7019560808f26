"""``manage.py lms aspects_superset_sync``: install or upgrade the shipped dashboards in Superset."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ...superset.bundle import AssetError, load_assets, render_bundle, superset_clickhouse
from ...superset.client import SupersetClient, SupersetError
from ...superset.sync import SupersetSync, SyncError, allowed_domains
from ..arguments import RawHelpMixin


def superset_client():
    """A client for SUPERSET_CONFIG's service account (the one that grants guest tokens)."""
    config = settings.SUPERSET_CONFIG
    url = config.get("internal_service_url") or config.get("service_url")
    if not url:
        raise CommandError("SUPERSET_CONFIG has no internal_service_url or service_url")
    return SupersetClient(url, config.get("username"), config.get("password"),
                          max(float(config.get("timeout_secs", 5)), 60.0))


class Command(RawHelpMixin, BaseCommand):
    help = (
        "Install or upgrade the dashboards the plugin ships (Course, At-Risk Learners, Individual Learner, "
        "Operator and the Studio in-context dashboards) in Superset, through its REST API.\n\n"
        "Run it on every deploy: it compares the shipped assets with what Superset has and imports them "
        "(overwriting) only when something is new or different, so a second run changes nothing. It also "
        "points Superset's ClickHouse connection at ASPECTS_SUPERSET_CLICKHOUSE (else the sink's "
        "connection), enables embedding with the allowed domains from ASPECTS_SUPERSET_ALLOWED_DOMAINS "
        "(else the LMS and Studio origins), and gives the guest role (ASPECTS_SUPERSET_GUEST_ROLE, which "
        "must be Superset's GUEST_ROLE_NAME) read access to exactly the datasets embedded dashboards read. "
        "With ASPECTS_ENABLE_PII off, the Individual Learner dashboard and every name or email column are "
        "left out. It prints each change; exit status 1 when Superset or ClickHouse cannot be used.\n\n"
        "Examples:\n"
        "  manage.py lms aspects_superset_sync                       # install or upgrade everything\n"
        "  manage.py lms aspects_superset_sync --dry-run             # show what would change, change nothing\n"
        "  manage.py lms aspects_superset_sync --only course at_risk # just these dashboards\n"
        "  manage.py lms aspects_superset_sync --force               # re-import all (after rotating a password)\n"
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="report what would change without changing it")
        parser.add_argument("--force", action="store_true",
                            help="import everything even when nothing differs (e.g. to send a rotated ClickHouse "
                                 "password while the old one still works)")
        parser.add_argument("--only", nargs="+", metavar="NAME", default=None,
                            help="sync only these dashboards (names: see the list this command prints)")

    def handle(self, *args, **options):
        try:
            assets = load_assets()
            bundle = render_bundle(assets, only=options["only"])
        except AssetError as exc:
            raise CommandError(str(exc)) from None
        client = superset_client()
        out = self.stdout.write
        clickhouse = superset_clickhouse()
        out(f"Superset {client.url} as {client.username!r}; ClickHouse {clickhouse['url']} as "
            f"{clickhouse['username']!r}" + (" (dry run: nothing is changed)" if options["dry_run"] else ""))
        if clickhouse["username"] == settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG.get("username"):
            out(self.style.WARNING("Warning: Superset uses the sinks' ClickHouse user, which can write. Set "
                                   "ASPECTS_SUPERSET_CLICKHOUSE = {'username': ..., 'password': ...} to a "
                                   "read-only user."))
        for path, why in bundle.skipped:
            out(f"  skip    {path} ({why})")
        sync = SupersetSync(client, allowed_domains(), settings.ASPECTS_SUPERSET_GUEST_ROLE, options["dry_run"],
                             options["force"])
        try:
            report = sync.run(bundle)
        except SupersetError as exc:
            raise CommandError(f"{exc}. Check SUPERSET_CONFIG (URL, username, password) and that Superset "
                               "is running.", returncode=1) from None
        except SyncError as exc:
            raise CommandError(f"{exc} (Superset at {client.url})", returncode=1) from None
        for action, what in report.changes:
            out(f"  {action:7} {what}")
        verb = "would change" if options["dry_run"] else "changed"
        names = ", ".join(sorted(assets.dashboards)) if not options["only"] else ", ".join(options["only"])
        out(f"{len(report.changes)} {verb}, {report.unchanged} unchanged (dashboards: {names}).")
