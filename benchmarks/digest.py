"""
Course digest benchmark: prints figures, asserts nothing.

Builds a site — by default 1,000 courses with the analytics benchmark's generator
(``benchmarks/analytics.py``: sink state and tracking events inserted so the materialized views fill
the model), every course with two staff members in the stand-in LMS and the digest flag on — then,
in one run:

* figures: what the digest reads through the analytics query module for every course, in batches
  of ``--batch-size`` courses (one query per figure per batch, as a run reads them), against the
  same figures read one course at a time (the baseline: a batch of one); courses/s, p50/p95 per
  batch, and the slowest query;
* a full ``send_course_digests`` run mailing every digest to a real SMTP server on loopback
  (aiosmtpd, in a process of its own as a mail relay is), reading ``--batch-size`` courses'
  figures per batch (ASPECTS_DIGEST_BATCH_SIZE; ``--compare`` adds a run reading one course at a
  time): courses/s and emails/s, rendering, chart and claims included;
* a second run of the same week (everything already sent): what a rerun costs;
* the floor: a ``SELECT 1`` round trip to the same ClickHouse times the queries one digest makes
  when read alone, the best one course at a time can do.

    ASPECTS_DB_NAME=aspects_digest_bench .venv/bin/python benchmarks/digest.py --courses 100   # quick
    ASPECTS_DB_NAME=aspects_digest_bench .venv/bin/python benchmarks/digest.py                 # 1,000 courses

A ClickHouse of its own is started in ``var/bench-digest`` (or ``--url``); the generated site is kept
and reused by the next run of the same size. The LMS side lives in the MariaDB database named by
ASPECTS_DB_NAME (default aspects_digest_bench), rebuilt on every run.
"""

import argparse
import importlib.util
import os
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")
os.environ.setdefault("ASPECTS_DB_NAME", "aspects_digest_bench")
_spec = importlib.util.spec_from_file_location("analytics_bench", ROOT / "benchmarks" / "analytics.py")
analytics_bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(analytics_bench)  # sets Django up, as this script needs

# pylint: disable=wrong-import-position
import subprocess  # noqa: E402

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from opaque_keys.edx.keys import CourseKey  # noqa: E402

from benchmarks.stats import percentile  # noqa: E402
from devstack.local_clickhouse import LocalClickHouse  # noqa: E402
from platform_plugin_aspects.analytics import queries  # noqa: E402
from platform_plugin_aspects.clickhouse import ConnectionConfig, reset_connections  # noqa: E402
from platform_plugin_aspects.clickhouse.migrate import MigrationRunner  # noqa: E402
from platform_plugin_aspects.digest.content import assemble, build_digest, fetch_figures_batch  # noqa: E402
from platform_plugin_aspects.digest.sending import DigestRun  # noqa: E402
from platform_plugin_aspects.digest.weeks import Week  # noqa: E402
from platform_plugin_aspects.models import DigestDelivery, DigestOptOut  # noqa: E402
from platform_plugin_aspects.waffle import COURSE_DIGEST_FLAG  # noqa: E402
from tests.lms.course_overviews.models import CourseOverview  # noqa: E402
from tests.lms.student.models import CourseAccessRole  # noqa: E402
from tests.lms.waffle_utils.models import WaffleFlagOrgOverrideModel  # noqa: E402
from tests.smtp_server import smtp_relay  # noqa: E402


class Timed(analytics_bench.Measured):
    """The plugin's client, timing every query from the client (round trip included)."""

    def __init__(self, config):
        super().__init__(config)
        self.timings = []  # (seconds, sql)
        self._last_sql = ""

    def _run(self, what, operation, table=None):
        started = time.perf_counter()
        try:
            return super()._run(what, operation, table)
        finally:
            if what == "a query":
                self.timings.append((time.perf_counter() - started, self._last_sql))

    def _select(self, client, sql, parameters, **options):
        self._last_sql = sql
        return super()._select(client, sql, parameters, **options)


def course_keys(count):
    return [f"course-v1:Org{c % 10}+C{c}+2026" for c in range(count)]


def build_lms(keys, staff_per_course):
    """Course overviews, staff roles and the flag on for every org, in the stand-in LMS (bulk inserts)."""
    subprocess.run([sys.executable, "-m", "tests.lms.createdb"], cwd=ROOT, check=True)
    call_command("migrate", verbosity=0)
    for model in (DigestDelivery, DigestOptOut, CourseAccessRole, WaffleFlagOrgOverrideModel, CourseOverview):
        model.objects.all().delete()
    User.objects.filter(username__startswith="bench_staff_").delete()
    CourseOverview.objects.bulk_create([
        CourseOverview(id=CourseKey.from_string(k), org=k.split(":")[1].split("+")[0], display_name=f"Course {i}",
                       lowest_passing_grade="0.50") for i, k in enumerate(keys)])
    users = User.objects.bulk_create([
        User(username=f"bench_staff_{i}_{s}", email=f"staff{s}.course{i}@example.com", password="!")
        for i in range(len(keys)) for s in range(staff_per_course)])
    CourseAccessRole.objects.bulk_create([
        CourseAccessRole(user=user, org=keys[n // staff_per_course].split(":")[1].split("+")[0],
                         course_id=CourseKey.from_string(keys[n // staff_per_course]), role="staff")
        for n, user in enumerate(users)])
    WaffleFlagOrgOverrideModel.objects.bulk_create([
        WaffleFlagOrgOverrideModel(waffle_flag=COURSE_DIGEST_FLAG, org=f"Org{o}", override_choice="on", enabled=True)
        for o in range(10)])


def main():  # pylint: disable=too-many-locals,too-many-statements
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--courses", type=int, default=1000)
    parser.add_argument("--events", type=int, default=3_000_000, help="tracking events over the whole site")
    parser.add_argument("--learners", type=int, default=60_000)
    parser.add_argument("--mooc-events", type=int, default=500_000, help="events of course 0, the big one")
    parser.add_argument("--mooc-learners", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--staff", type=int, default=2, help="staff members (recipients) per course")
    parser.add_argument("--batch-size", type=int, default=100, help="ASPECTS_DIGEST_BATCH_SIZE of the runs")
    parser.add_argument("--compare", action="store_true", help="also a full run reading one course at a time")
    parser.add_argument("--url", help="an existing ClickHouse (default: start one in var/bench-digest)")
    parser.add_argument("--database", default="bench_digest")
    parser.add_argument("--regenerate", action="store_true", help="build the ClickHouse site even if it exists")
    args = parser.parse_args()
    today = datetime.now(timezone.utc).date()
    args.start = datetime.combine(today - timedelta(days=args.days - 1), datetime.min.time(), tzinfo=timezone.utc)
    week = Week.last_complete()

    server = None
    url = args.url
    if not url:
        server = LocalClickHouse(ROOT / "var" / "bench-digest")
        url = server.start()
    try:
        clickhouse = Timed(ConnectionConfig(url=url, database=args.database, timeout_secs=30, retries=2))
        settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG = {"url": url, "database": args.database}
        reset_connections()
        MigrationRunner(clickhouse).run()
        clickhouse.forget_schema()
        print(f"ClickHouse {url} database {args.database}; LMS database {settings.DATABASES['default']['NAME']}; "
              f"{os.cpu_count()} CPUs shared with other work, load average {os.getloadavg()[0]:.1f}")
        marker = clickhouse.query("SELECT count(), uniqExact(course_key), min(toDate(time)) FROM tracking_events")[0]
        if args.regenerate or marker != (args.events, args.courses, args.start.date()):
            print(f"building the site: {args.courses} courses, {args.learners:,} learners, {args.events:,} events "
                  f"over {args.days} days (course 0: {args.mooc_events:,} events)", flush=True)
            analytics_bench.build_site(clickhouse, args)
        else:
            print("reusing the ClickHouse site of this size")
        analytics_bench.refresh_after_build(clickhouse)  # the video pairings kept, as on a live site
        keys = course_keys(args.courses)
        started = time.monotonic()
        build_lms(keys, args.staff)
        print(f"stand-in LMS: {args.courses} courses, {args.courses * args.staff} staff, flag on "
              f"({time.monotonic() - started:.1f} s); week {week} ({week.start:%b %d}-{week.end - timedelta(1):%b %d})")

        queries.get_clickhouse = lambda: clickhouse  # every query through the timing client

        # baseline: the round-trip floor
        clickhouse.timings.clear()
        build_digest(keys[1], week)
        per_digest = len(clickhouse.timings)
        trips = []
        for _ in range(200):
            began = time.perf_counter()
            clickhouse.query_dicts("SELECT 1 AS one")
            trips.append(time.perf_counter() - began)
        floor = statistics.median(trips) * per_digest
        print(f"\nbaseline: a SELECT 1 round trip takes {statistics.median(trips) * 1000:.2f} ms; one digest makes "
              f"{per_digest} queries read alone, so {floor * 1000:.1f} ms per course = {1 / floor:,.0f} "
              "courses/s at best one course at a time",
              flush=True)

        # 1. figures only: in batches, and one course at a time (the baseline)
        def figures(batch_size):
            clickhouse.timings.clear()
            per_batch = []
            began = time.perf_counter()
            for first in range(0, len(keys), batch_size):
                batch = keys[first:first + batch_size]
                one = time.perf_counter()
                for key, found in fetch_figures_batch(batch, week).items():
                    assemble(key, week, found)
                per_batch.append((time.perf_counter() - one, batch[0]))
            return time.perf_counter() - began, per_batch, list(clickhouse.timings)

        results = {size: figures(size) for size in (args.batch_size, 1)}
        for size, (seconds, per_batch, timings) in results.items():
            times = [t for t, _ in per_batch]
            print(f"figures in batches of {size} course(s): {args.courses} courses in {seconds:.1f} s = "
                  f"{args.courses / seconds:,.1f} courses/s, {len(timings)} queries; per batch p50 "
                  f"{percentile(times, .5) * 1000:.1f} ms, p95 {percentile(times, .95) * 1000:.1f} ms, slowest "
                  f"{max(per_batch)[0] * 1000:.1f} ms (from {max(per_batch)[1]})")
        (batched, _, timings), (one_by_one, *_) = results[args.batch_size], results[1]
        print(f"batches of {args.batch_size} against one course at a time: {one_by_one / batched:.1f}x faster")
        slowest_time, slowest_sql = max(timings, key=lambda t: t[0])
        print(f"slowest query (batches of {args.batch_size}): {slowest_time * 1000:.1f} ms: "
              f"{' '.join(slowest_sql.split())[:300]}")
        by_query = {}
        for seconds, sql in timings:
            by_query.setdefault(" ".join(sql.split())[:90], []).append(seconds)
        print("per query (p50 / p95 ms, client side):")
        for sql, values in sorted(by_query.items(), key=lambda kv: -percentile(kv[1], .95)):
            print(f"  {percentile(values, .5) * 1000:6.1f} {percentile(values, .95) * 1000:6.1f}  {sql}", flush=True)

        # 2. full runs into a real SMTP server (--compare: one course at a time first); 3. a rerun
        with smtp_relay() as (received, port):
            settings.ASPECTS_DIGEST_EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
            settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
            for batch_size in (1, args.batch_size) if args.compare else (args.batch_size,):
                DigestDelivery.objects.all().delete()
                received.value = 0
                settings.ASPECTS_DIGEST_BATCH_SIZE = batch_size
                began = time.perf_counter()
                report = DigestRun(week).run()
                seconds = time.perf_counter() - began
                print(f"full run, figures in batches of {batch_size} (then chart, HTML+text, claim, SMTP): "
                      f"{report.courses} courses, {report.sent} emails ({received.value} received, "
                      f"{report.quiet} quiet courses skipped) in {seconds:.1f} s = {report.courses / seconds:,.1f} "
                      f"courses/s, {report.sent / seconds:,.1f} emails/s", flush=True)
            began = time.perf_counter()
            rerun = DigestRun(week).run()
            rerun_secs = time.perf_counter() - began
        print(f"second run of {week}: {rerun.sent} sent, {rerun.computed} courses read from ClickHouse, "
              f"{rerun_secs:.1f} s = {rerun.courses / rerun_secs:,.0f} courses/s")
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
