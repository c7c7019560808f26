"""``manage.py lms aspects_status``: is the ClickHouse pipeline healthy? (exit code for alerting)"""

import dataclasses
import datetime
import json
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count, Min
from django.utils import timezone

from ...analytics.model import refresh_states
from ...clickhouse import ClickHouse, ClickHouseError
from ...clickhouse.migrate import MigrationRunner
from ...models import DeliveryStatus, OutboxEntry
from ...sinks import all_sinks
from ...superset.client import SupersetError
from ...tracking.sender import HELD_DIR, HELD_ERROR_FILE
from ...tracking.spool import Spool
from ..arguments import RawHelpMixin, non_negative_float
from ..options import add_connection_arguments, clickhouse_for

DEFAULT_MAX_AGE = 600.0


def _iso(value):
    return value.isoformat() if value else None


def _age(value, now):
    return round((now - value).total_seconds(), 1) if value else None


def outbox_by_sink(now):
    """``{sink: {"waiting", "oldest_secs", "failed"}}`` from one grouped query."""
    stats = {}
    for row in OutboxEntry.objects.values("sink", "failed").annotate(n=Count("id"), oldest=Min("created")):
        entry = stats.setdefault(row["sink"], {"waiting": 0, "oldest_secs": None, "failed": 0})
        if row["failed"]:
            entry["failed"] += row["n"]
        else:
            entry["waiting"] += row["n"]
            entry["oldest_secs"] = _age(row["oldest"], now)
    return stats


def table_stats(clickhouse, existing, now):
    """Rows (physical, before versions collapse) and freshness (newest ``version``) per sink table."""
    wanted = sorted({sink.table for sink in all_sinks() if sink.table} | {"course_blocks"})
    stats = []
    for table in wanted:
        if table not in existing:
            stats.append({"table": table, "exists": False})
            continue
        rows, newest = clickhouse.query(f"SELECT count(), max(version) FROM {clickhouse.qualified(table)}")[0]
        latest = datetime.datetime.fromtimestamp(newest / 1e9, tz=datetime.timezone.utc) if newest else None
        stats.append({"table": table, "exists": True, "rows": rows, "latest_write": _iso(latest),
                      "age_secs": _age(latest, now)})
    return stats


def tracking_spool():
    """
    Live tracking events waiting on this host's disk: spooled (ClickHouse was unreachable) and held
    (our code failed on them; kept and retried, never rejected), with the last such error.
    """
    directory = Path(settings.ASPECTS_TRACKING_SPOOL_DIR)
    note = directory / HELD_DIR / HELD_ERROR_FILE
    try:
        return {"spool_dir": str(directory), "spooled": Spool(directory).count_events(),
                "held": Spool(directory / HELD_DIR).count_events(),
                "held_error": note.read_text(encoding="utf-8").strip() if note.is_file() else ""}
    except OSError as exc:  # e.g. another user's spool: say so, the rest of the report stands
        return {"spool_dir": str(directory), "spooled": 0, "held": 0, "held_error": "",
                "unreadable": str(exc)}


def coverage(clickhouse, existing):
    """
    Per enabled sink: objects in the LMS against current rows in ClickHouse.

    Objects that existed before a sink was enabled reach ClickHouse only through a backfill; this
    is how an operator sees that one is due. A few changes in flight make small differences.
    """
    rows = []
    for sink in all_sinks():
        if not (sink.table and sink.dumpable and sink.is_enabled() and sink.table in existing):
            continue
        in_lms = sink.queryset().count()
        in_clickhouse = clickhouse.query(f"SELECT count() FROM {clickhouse.qualified(sink.table)} FINAL")[0][0]
        rows.append({"sink": sink.name, "table": sink.table, "lms": in_lms, "clickhouse": in_clickhouse,
                     "missing": max(0, in_lms - in_clickhouse)})
    return rows


def superset_dashboards():
    """
    Whether Superset has the Reports tab's dashboards: ``{"url", "reachable", "missing": [names]}``.

    A site that has not run ``aspects_superset_sync`` (or whose sync failed) has none, and course staff
    would see "not installed" in the tab.
    """
    from ...superset.dashboards import (  # pylint: disable=import-outside-toplevel
        DashboardNotInstalled,
        embeddable,
        instructor_dashboards,
    )
    from ...superset.dashboards import superset_public_url as url  # pylint: disable=import-outside-toplevel

    found = {"url": url(), "reachable": True, "missing": [], "error": ""}
    for dashboard in instructor_dashboards():
        try:
            embeddable(dashboard, "en")
        except DashboardNotInstalled:
            found["missing"].append(dashboard.get("name") or dashboard["uuid"])
        except SupersetError as exc:
            found.update(reachable=False, error=str(exc))
            break
    return found


def collect(options, max_age, with_coverage=False):
    """Everything the report shows, plus ``problems``: the reasons it is unhealthy (empty when healthy)."""
    now = timezone.now()
    problems = []
    report = {"checked_at": now.isoformat(), "max_age_secs": max_age}
    try:
        configured = clickhouse_for(options)
        # A status check answers at once: no retries against a server that is down.
        clickhouse = ClickHouse(dataclasses.replace(configured.config, retries=0))
        server = {"url": configured.config.where, "database": configured.database}
        server["version"] = clickhouse.query("SELECT version()")[0][0]
        server["reachable"] = True
    except (ClickHouseError, CommandError) as exc:
        clickhouse, server = None, {"reachable": False, "error": str(exc)}
        problems.append(f"ClickHouse unreachable: {exc}")
    report["clickhouse"] = server
    if clickhouse is not None:
        try:
            runner = MigrationRunner(clickhouse)
            pending = [m.name for m in runner.pending()]
            report["migrations"] = {"pending": pending, "edited_since_applied": runner.changed()}
            if pending:
                problems.append(f"{len(pending)} ClickHouse migration(s) pending: {', '.join(pending)} "
                                "(run migrate_clickhouse)")
            existing = clickhouse.table_names()
            report["tables"] = table_stats(clickhouse, existing, now)
            report["refreshes"] = refresh_states(clickhouse)
            problems += [f"the refresh of {refresh['table']} fails ({refresh['failing'][:300]}): the reports "
                         "stay exact but compute every changed learner's rows when read"
                         for refresh in report["refreshes"] if refresh["failing"]]
            if with_coverage:
                report["coverage"] = coverage(clickhouse, existing)
        except ClickHouseError as exc:
            problems.append(f"ClickHouse error: {exc}")
        finally:
            clickhouse.close()
    outbox = outbox_by_sink(now)
    statuses = {status.sink: status for status in DeliveryStatus.objects.all()}
    sinks = []
    for sink in all_sinks():
        status = statuses.get(sink.name)
        waiting = outbox.get(sink.name, {"waiting": 0, "oldest_secs": None, "failed": 0})
        sinks.append({
            "name": sink.name, "enabled": sink.is_enabled(), "pii": sink.pii, **waiting,
            "last_success": _iso(status and status.last_success), "last_failure": _iso(status and status.last_failure),
            "last_error": status.last_error if status else "", "delivered": status.delivered if status else 0,
        })
    report["sinks"] = sinks
    total_failed = sum(s["failed"] for s in outbox.values())
    ages = [s["oldest_secs"] for s in outbox.values() if s["oldest_secs"] is not None]
    report["outbox"] = {"waiting": sum(s["waiting"] for s in outbox.values()), "failed": total_failed,
                        "oldest_secs": max(ages) if ages else None}
    if total_failed:
        problems.append(f"{total_failed} outbox entries failed: rejected by ClickHouse or their rows could not be "
                        "built (flush_clickhouse_outbox --list-failed shows why, --retry-failed replays them)")
    report["tracking"] = tracking = tracking_spool()
    if tracking["held"]:
        problems.append(f"{tracking['held']} tracking events are held back by an error in the plugin's code "
                        f"({tracking['held_error']}); they are kept in {tracking['spool_dir']}/{HELD_DIR} and "
                        "retried, and arrive once the fix is deployed")
    if ages and max(ages) > max_age:
        problems.append(f"the oldest undelivered change is {max(ages):.0f}s old (more than --max-age {max_age:.0f}s)")
    report["superset"] = superset_dashboards()
    if report["superset"]["missing"]:
        problems.append(f"Superset has no {', '.join(report['superset']['missing'])}: course staff see "
                        "\"Reports are not installed\" (run manage.py lms aspects_superset_sync)")
    report["problems"] = problems
    report["healthy"] = not problems
    report["hints"] = [
        f"{row['missing']} {row['sink']} object(s) are not in ClickHouse: "
        f"manage.py cms dump_data_to_clickhouse --object {row['sink']}"
        for row in report.get("coverage", []) if row["missing"]]
    report["hints"] += [
        f"the refresh of {refresh['table']} is stopped (the reports stay exact, read slower): "
        f"SYSTEM START VIEW {server.get('database')}.{refresh['view']}"
        for refresh in report.get("refreshes", []) if refresh["status"] == "Disabled"]
    return report


def _when(value):
    return datetime.datetime.fromisoformat(value) if value else None


def record(report, clickhouse):
    """
    Write the report's delivery health into ClickHouse (delivery_health, table_freshness), one
    snapshot per call, for the Operator dashboard: Superset can only chart what ClickHouse holds,
    and the outbox lives in the LMS database.
    """
    checked = _when(report["checked_at"])
    clickhouse.insert("delivery_health", [
        (checked, s["name"], s["enabled"], s["waiting"], s["oldest_secs"], s["failed"], s["delivered"],
         _when(s["last_success"]), _when(s["last_failure"]), s["last_error"] or "") for s in report["sinks"]],
        ["checked_at", "sink", "enabled", "waiting", "oldest_secs", "rejected", "delivered", "last_success",
         "last_failure", "last_error"])
    tables = [t for t in report.get("tables", []) if t["exists"]]
    if tables:
        clickhouse.insert("table_freshness", [
            (checked, t["table"], t["rows"], _when(t["latest_write"]), t["age_secs"]) for t in tables],
            ["checked_at", "table_name", "row_count", "latest_write", "age_secs"])


def _fmt(value, suffix=""):
    return "-" if value is None else f"{value}{suffix}"


class Command(RawHelpMixin, BaseCommand):
    help = (
        "Report the health of the ClickHouse pipeline, with an exit code to alert on.\n\n"
        "Checks: ClickHouse reachable, schema migrations applied, per sink enabled/disabled, changes waiting "
        "in the outbox and the age of the oldest, failed entries (rejected by ClickHouse or not buildable) with the "
        "last error, last successful delivery, and "
        "rows and freshness (newest version written) per table. Exits 0 when healthy and 1 when ClickHouse is "
        "unreachable, migrations are pending, any entry was rejected, or the oldest waiting change is older "
        "than --max-age.\n\n"
        "--coverage also counts, per enabled sink, the objects in the LMS against the current rows in "
        "ClickHouse, and names the backfill to run when objects are missing (objects that existed before a "
        "sink was enabled arrive only through a backfill). It counts whole tables: slower on big sites, and "
        "it never changes the exit code.\n\n"
        "Examples:\n"
        "  manage.py lms aspects_status                    # human-readable report\n"
        "  manage.py lms aspects_status --coverage         # ...and is anything waiting for a backfill?\n"
        "  manage.py lms aspects_status --json | jq .      # for scripts and dashboards\n"
        "  manage.py lms aspects_status --max-age 120 || page-the-on-call   # alert when delivery stalls\n"
        "  manage.py lms aspects_status --record           # also keep a snapshot for the Operator dashboard\n"
    )

    def add_arguments(self, parser):
        parser.add_argument("--max-age", type=non_negative_float, default=DEFAULT_MAX_AGE, dest="max_age",
                            help=f"seconds a change may wait in the outbox before it counts as unhealthy "
                                 f"(default {DEFAULT_MAX_AGE:.0f})")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument("--record", action="store_true",
                            help="write this report's delivery health into ClickHouse (delivery_health, "
                                 "table_freshness) for the Operator dashboard; run it every minute or so")
        parser.add_argument("--coverage", action="store_true",
                            help="compare LMS objects with ClickHouse rows per enabled sink (counts whole tables)")
        add_connection_arguments(parser)

    def handle(self, *args, **options):
        report = collect(options, options["max_age"], with_coverage=options["coverage"])
        if options["record"] and report["clickhouse"]["reachable"]:
            try:
                record(report, clickhouse_for(options))
            except ClickHouseError as exc:
                report["problems"].append(f"could not record delivery health: {exc}")
        if options["json"]:
            self.stdout.write(json.dumps(report, indent=2, sort_keys=True))
        else:
            self.write_text(report)
        if report["problems"]:
            raise CommandError("UNHEALTHY: " + "; ".join(report["problems"]), returncode=1)

    def write_text(self, report):
        """The report for a terminal."""
        out = self.stdout.write
        server = report["clickhouse"]
        if server["reachable"]:
            out(f"ClickHouse  {server['url']} database {server['database']}: reachable (version {server['version']})")
        else:
            out(f"ClickHouse  UNREACHABLE: {server['error']}")
        migrations = report.get("migrations")
        if migrations is not None:
            pending = migrations["pending"]
            out("Migrations  " + (f"PENDING: {', '.join(pending)}" if pending else "all applied"))
        outbox = report["outbox"]
        out(f"Outbox      {outbox['waiting']} waiting, oldest {_fmt(outbox['oldest_secs'], 's')}; "
            f"{outbox['failed']} rejected")
        tracking = report["tracking"]
        out(f"Tracking    {tracking['spooled']} events spooled on this host, {tracking['held']} held back by a code "
            f"error ({tracking['spool_dir']})")
        out("\nSink                enabled  pii  waiting  oldest   rejected  delivered  last success")
        for sink in report["sinks"]:
            out(f"{sink['name']:19} {'yes' if sink['enabled'] else 'no':8} {'yes' if sink['pii'] else '':4} "
                f"{sink['waiting']:7}  {_fmt(sink['oldest_secs'], 's'):8} {sink['failed']:8}  {sink['delivered']:9}  "
                f"{_fmt(sink['last_success'])}")
        for sink in report["sinks"]:
            if sink["failed"]:
                out(f"  {sink['name']}: {sink['failed']} failed; last error: {sink['last_error'][:300]}")
        if report.get("tables"):
            out("\nTable               rows (physical)  latest write (age)")
            for table in report["tables"]:
                if not table["exists"]:
                    out(f"{table['table']:19} missing")
                    continue
                out(f"{table['table']:19} {table['rows']:15}  {_fmt(table['latest_write'])} "
                    f"({_fmt(table['age_secs'], 's')})")
        for refresh in report.get("refreshes", []):
            out(f"\nRefresh of {refresh['table']}  {refresh['status']}, last success {_fmt(refresh['last_success'])}"
                + (f"; error: {refresh['failing'][:300]}" if refresh["failing"] else ""))
        if report.get("coverage") is not None:
            out("\nCoverage            in LMS  in ClickHouse  missing")
            for row in report["coverage"]:
                out(f"{row['sink']:19} {row['lms']:6}  {row['clickhouse']:13}  {row['missing']:7}")
        superset = report["superset"]
        if not superset["reachable"]:
            out(f"\nSuperset    {superset['url']}: not reachable from here ({superset['error']})")
        elif superset["missing"]:
            out(f"\nSuperset    {superset['url']}: NOT INSTALLED: {', '.join(superset['missing'])}")
        else:
            out(f"\nSuperset    {superset['url']}: the Reports tab's dashboards are installed")
        out("\nStatus: " + ("HEALTHY" if report["healthy"] else "UNHEALTHY"))
        for problem in report["problems"]:
            out(f"  - {problem}")
        for hint in report["hints"]:
            out(f"Hint: {hint}")
