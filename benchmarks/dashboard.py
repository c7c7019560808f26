"""
Course Dashboard load time: every chart-data request the embedded page sends, with a guest token,
against a real local Superset 6.1 synced with the shipped assets, on the analytics benchmark's site
(benchmarks/analytics.py builds it; the same ClickHouse data directory and size flags). Prints
figures, asserts nothing.

For a typical course and the MOOC, one "load" is what the page does: ``GET /dashboard/<id>/charts``
then every chart's ``POST /api/v1/chart/data`` with at most 6 requests in flight (a browser's limit
per host), timed until the last answer. Measured, side by side in one run:

* cold: every request with ``force`` (Superset's cache bypassed, ClickHouse runs every query);
* warm: the same requests answered from Superset's data cache (SimpleCache here);
* baseline: the very SQL Superset sends for each chart (read back with ``result_type: query``,
  the token's row-level security included) run directly on ClickHouse, 6 at a time: the part of
  the load no dashboard tool can avoid.

    .venv/bin/python benchmarks/dashboard.py --scale 0.1        # quick, on a shared machine
    .venv/bin/python benchmarks/dashboard.py                    # the analytics benchmark's full site

Superset runs from var/superset-venv with its metadata in var/superset-bench-dashboard.
"""

import argparse
import importlib.util
import json
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from io import StringIO
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
_spec = importlib.util.spec_from_file_location("bench_analytics", ROOT / "benchmarks" / "analytics.py")
bench_analytics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench_analytics)  # sets Django up, as every benchmark does

# pylint: disable=wrong-import-position
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from opaque_keys.edx.keys import CourseKey  # noqa: E402

from benchmarks.stats import percentile  # noqa: E402
from devstack.local_clickhouse import LocalClickHouse  # noqa: E402
from devstack.local_superset import ADMIN_PASSWORD, ADMIN_USERNAME, LocalSuperset  # noqa: E402
from platform_plugin_aspects.clickhouse import ClickHouse, ConnectionConfig  # noqa: E402
from platform_plugin_aspects.clickhouse.migrate import MigrationRunner  # noqa: E402
from platform_plugin_aspects.superset.bundle import load_assets  # noqa: E402
from platform_plugin_aspects.superset.client import SupersetClient  # noqa: E402
from platform_plugin_aspects.superset.rls import DEFAULT_CLAUSE_TEMPLATES, render_clause  # noqa: E402
from tests.superset_chart_data import GUEST_HEADER, build_query, query_context  # noqa: E402

CACHE = '\nDATA_CACHE_CONFIG = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 3600}\n'
IN_FLIGHT = 6
SITE = {"courses": 200, "learners": 100_000, "events": 20_000_000, "mooc_events": 5_000_000,
        "mooc_learners": 50_000, "days": 90}  # benchmarks/analytics.py's defaults
COURSES = (("typical course", "course-v1:Org1+C1+2026"), ("MOOC", "course-v1:Org0+C0+2026"))


def ensure_site(args):
    """The analytics benchmark's site in ClickHouse (built when missing); returns the ClickHouse URL."""
    for name in ("learners", "events", "mooc_events", "mooc_learners"):
        setattr(args, name, int(getattr(args, name) * args.scale))
    as_of = datetime.now(timezone.utc).date()
    args.start = datetime.combine(as_of - timedelta(days=args.days - 1), datetime.min.time(), tzinfo=timezone.utc)
    url = args.url or LocalClickHouse(ROOT / "var" / "bench-analytics").start()
    clickhouse = ClickHouse(ConnectionConfig(url=url, database=args.database, timeout_secs=60, retries=2))
    settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG = {"url": url, "database": args.database}
    MigrationRunner(clickhouse).run()
    clickhouse.forget_schema()
    marker = clickhouse.query("SELECT count(), uniqExact(course_key), min(toDate(time)) FROM tracking_events")[0]
    if marker != (args.events, args.courses, args.start.date()):
        print(f"building the analytics benchmark's site: {args.courses} courses, {args.events:,} events ...",
              flush=True)
        bench_analytics.build_site(clickhouse, args)
    else:
        print(f"reusing the analytics benchmark's site: {args.courses} courses, {args.events:,} events, "
              f"MOOC {args.mooc_events:,} events / {args.mooc_learners:,} learners")
    return url, clickhouse


class Page:
    """What one embedded Course Dashboard page sends, for one course's guest token."""

    def __init__(self, superset_url, dashboard_id, token):
        self.url, self.dashboard_id, self.token = superset_url, dashboard_id, token
        self.session = requests.Session()
        response = self.session.get(f"{superset_url}api/v1/dashboard/{dashboard_id}/charts",
                                    headers={GUEST_HEADER: token}, timeout=60)
        response.raise_for_status()
        self.charts = [(c["slice_name"], {**c["form_data"], "slice_id": c["id"]}) for c in response.json()["result"]]

    def _post(self, form_data, force):
        body = query_context(form_data, self.dashboard_id, force=force)
        started = time.perf_counter()
        response = requests.post(f"{self.url}api/v1/chart/data", headers={GUEST_HEADER: self.token},
                                 params={"form_data": json.dumps({"slice_id": form_data["slice_id"]}),
                                         "dashboard_id": self.dashboard_id}, json=body, timeout=120)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{form_data['slice_id']}: {response.status_code} {response.text[:300]}")
        return elapsed

    def load(self, force):
        """One page load: (total ms, {chart: ms})."""
        started = time.perf_counter()
        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            times = dict(zip([n for n, _ in self.charts],
                             pool.map(lambda c: self._post(c[1], force), self.charts)))
        return (time.perf_counter() - started) * 1000, times

    def sql(self, admin, clauses):
        """
        The SQL Superset runs for each chart. Superset hides it from guests, so an admin asks for it
        with the token's clauses as the query's own WHERE (Superset ANDs both the same way).
        """
        found = {}
        for name, form_data in self.charts:
            query = build_query(form_data)
            query["extras"]["where"] = " AND ".join(f"({c})" for c in [query["extras"]["where"], *clauses] if c)
            body = {**query_context(form_data, self.dashboard_id, query=query, force=True), "result_type": "query"}
            response = admin.request("POST", "api/v1/chart/data", json=body)
            response.raise_for_status()
            found[name] = response.json()["result"][0]["query"]
        return found


def baseline(clickhouse, statements):
    """(total ms, {chart: ms}) of running the charts' SQL straight on ClickHouse, 6 at a time."""
    def run(sql):
        started = time.perf_counter()
        clickhouse.query(sql)
        return (time.perf_counter() - started) * 1000

    started = time.perf_counter()
    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        times = dict(zip(statements, pool.map(run, statements.values())))
    return (time.perf_counter() - started) * 1000, times


def summarize(label, loads):
    totals = [t for t, _ in loads]
    per_chart = {}
    for _, times in loads:
        for name, ms in times.items():
            per_chart.setdefault(name, []).append(ms)
    slowest = max(per_chart, key=lambda n: percentile(per_chart[n], 0.95))
    print(f"  {label:34} whole dashboard p50 {percentile(totals, 0.5):7.0f} ms  "
          f"p95 {percentile(totals, 0.95):7.0f} ms   "
          f"slowest chart: {slowest} (p95 {percentile(per_chart[slowest], 0.95):.0f} ms)")
    return per_chart


def main():  # pylint: disable=too-many-locals
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0,
                        help="the analytics benchmark's --scale (its default site: 200 courses, 100,000 learners, "
                             "20,000,000 events over 90 days, the MOOC 5,000,000 events and 50,000 learners)")
    parser.add_argument("--repeat", type=int, default=20, help="page loads measured per case")
    parser.add_argument("--url", help="an existing ClickHouse (default: the one in var/bench-analytics)")
    parser.add_argument("--database", default="bench_analytics")
    args = parser.parse_args()
    for name, value in SITE.items():
        setattr(args, name, value)

    clickhouse_url, clickhouse = ensure_site(args)
    superset = LocalSuperset(ROOT / "var" / "superset-bench-dashboard", ROOT / "var" / "superset-venv",
                             extra_config=CACHE)
    superset_url = superset.start()
    try:
        settings.SUPERSET_CONFIG = {"service_url": superset_url, "internal_service_url": superset_url,
                                    "username": ADMIN_USERNAME, "password": ADMIN_PASSWORD, "timeout_secs": 60}
        settings.ASPECTS_SUPERSET_CLICKHOUSE = {"url": clickhouse_url, "database": args.database,
                                                "username": "ch_report", "password": "report"}
        settings.ASPECTS_SUPERSET_ALLOWED_DOMAINS = []
        out = StringIO()
        call_command("aspects_superset_sync", "--only", "course", stdout=out)
        print(f"Superset {superset_url}: {out.getvalue().strip().splitlines()[-1]}")
        admin = SupersetClient(superset_url, ADMIN_USERNAME, ADMIN_PASSWORD, 60)
        assets = load_assets()
        course_uuid = assets.files[assets.dashboards["course"].path]["uuid"]
        dashboard_id = admin.request("GET", f"api/v1/dashboard/{course_uuid}").json()["result"]["id"]
        embedded = admin.request("GET", f"api/v1/dashboard/{course_uuid}/embedded").json()["result"]["uuid"]
        print(f"{os.cpu_count()} CPUs shared with other work, load average {os.getloadavg()[0]:.1f}; "
              f"{args.repeat} page loads per case, {IN_FLIGHT} requests in flight\n")
        for label, course_key in COURSES:
            key = CourseKey.from_string(course_key)
            values = {"course_id": course_key, "org": key.org, "user_id": 1, "username": "bench"}
            rls = [{"clause": render_clause(t, values)} for t in DEFAULT_CLAUSE_TEMPLATES]
            token = admin.guest_token({"username": "bench", "first_name": "", "last_name": ""},
                                      [{"type": "dashboard", "id": embedded}], rls)
            page = Page(superset_url, dashboard_id, token)
            statements = page.sql(admin, [r["clause"] for r in rls])
            print(f"{label} ({course_key}), {len(page.charts)} charts:")
            cold = summarize("cold (Superset cache bypassed)", [page.load(True) for _ in range(args.repeat)])
            page.load(False)  # fill the cache
            summarize("warm (Superset's data cache)", [page.load(False) for _ in range(args.repeat)])
            direct = summarize("baseline: same SQL on ClickHouse", [baseline(clickhouse, statements)
                                                                     for _ in range(args.repeat)])
            print("    per chart, cold p95 / ClickHouse alone p95:")
            for name in sorted(cold, key=lambda n: -percentile(cold[n], 0.95)):
                print(f"      {name:34} {percentile(cold[name], 0.95):7.0f} ms  "
                      f"/ {percentile(direct[name], 0.95):6.0f} ms")
            print()
    finally:
        superset.stop()


if __name__ == "__main__":
    main()
