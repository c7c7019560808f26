"""
Backfill benchmark: ``dump_data_to_clickhouse`` against two baselines measured in the same run.

* **ours** — ``manage.py dump_data_to_clickhouse --object course_enrollment`` (then ``user_profile``):
  the real command, keyset pages, the sink's row builder, the delivery writer.
* **ceiling** — no Django at all: raw keyset SELECTs with mysqlclient and ``clickhouse_connect``'s
  ``insert`` of the same rows and columns. Nothing end to end can be faster; ``insert-only`` is the
  share of that time spent inside ``insert``.
* **offset** — the existing plugin's shape, rewritten here: Django ``Paginator`` (COUNT, then
  LIMIT/OFFSET pages), a serializer call per row (dict, uuid4 and ``now()`` per row), one CSV body
  per page, HTTP POST with ``requests``.

Each path runs in its own process (so its peak RSS is its own) against an emptied table.
Data lives in MariaDB (ASPECTS_DB_HOST:ASPECTS_DB_PORT, default 127.0.0.1:3306, root) database
``aspects_bench_backfill`` and is loaded once with multi-row INSERTs; ClickHouse is the one in
``var/bench-clickhouse``::

    python -m devstack.local_clickhouse start --data-dir var/bench-clickhouse
    .venv/bin/python benchmarks/backfill.py                       # 1,000,000 enrollments, 100,000 profiles
    .venv/bin/python benchmarks/backfill.py --enrollments 100000  # smaller

Figures depend on the machine; the one used for README's figures has 2 cores shared with others.
"""

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DB_NAME = "aspects_bench_backfill"  # its own: other benchmarks use aspects_bench*
CH_DATABASE = "aspects_bench_backfill"
COURSES_PER_USER = 10


def configure(clickhouse_url):
    """Point the stand-in LMS settings at the benchmark databases (before Django starts)."""
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    os.environ.update(DJANGO_SETTINGS_MODULE="test_settings", ASPECTS_DB_NAME=DB_NAME, CLICKHOUSE_URL=clickhouse_url,
                      CLICKHOUSE_DATABASE=CH_DATABASE, CLICKHOUSE_USER="default", CLICKHOUSE_PASSWORD="")
    import django  # pylint: disable=import-outside-toplevel
    from django.conf import settings  # pylint: disable=import-outside-toplevel

    django.setup()
    settings.EVENT_SINK_CLICKHOUSE_COURSE_ENROLLMENT_ENABLED = True
    settings.EVENT_SINK_CLICKHOUSE_USER_PROFILE_ENABLED = True
    settings.ASPECTS_ENABLE_PII = True  # usernames in course_enrollment, as the upstream plugin writes them


def mysql(database=DB_NAME):
    """A raw connection with mysqlclient, the driver Django uses here (and edx-platform in production)."""
    import MySQLdb  # pylint: disable=import-outside-toplevel

    options = {"database": database} if database else {}
    return MySQLdb.connect(host=os.environ.get("ASPECTS_DB_HOST", "127.0.0.1"),
                           port=int(os.environ.get("ASPECTS_DB_PORT", 3306)), user="root", password="",
                           charset="utf8mb4", autocommit=True, **options)


# -- setup -------------------------------------------------------------------------------------------

def setup_data(enrollments, profiles, out):
    """Create the schema and load users, profiles and enrollments (skipped when already loaded)."""
    from django.core.management import call_command  # pylint: disable=import-outside-toplevel

    connection = mysql(database=None)
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DB_NAME} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    connection.close()
    # auth first: the stand-in apps have no migrations and their tables reference auth_user.
    call_command("migrate", "auth", verbosity=0)
    call_command("migrate", run_syncdb=True, verbosity=0)
    users = max(profiles, -(-enrollments // COURSES_PER_USER))
    connection = mysql()
    with connection.cursor() as cursor:
        cursor.execute("SELECT (SELECT count(*) FROM auth_user), (SELECT count(*) FROM auth_userprofile), "
                       "(SELECT count(*) FROM student_courseenrollment)")
        if cursor.fetchone() == (users, profiles, enrollments):  # the same data set: keep it
            out(f"MariaDB {DB_NAME}: {users:,} users, {profiles:,} profiles, {enrollments:,} enrollments "
                "already loaded")
            return
        started, now = time.monotonic(), datetime.now(timezone.utc).replace(tzinfo=None)
        cursor.execute("SET unique_checks = 0, foreign_key_checks = 0")
        for table in ("student_courseenrollment", "auth_userprofile", "auth_user"):
            cursor.execute(f"TRUNCATE TABLE {table}")
        _bulk(cursor, "INSERT INTO auth_user (id, password, is_superuser, username, first_name, last_name, email, "
                      "is_staff, is_active, date_joined) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
              ((n, "!", 0, f"learner{n}", "", "", f"learner{n}@example.com", 0, 1, now) for n in range(1, users + 1)))
        _bulk(cursor, "INSERT INTO auth_userprofile (id, user_id, name, meta, courseware, language, location, "
                      "year_of_birth, gender, level_of_education, country, bio) "
                      "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
              ((n, n, f"Learner Nº{n}", "", "course.xml", "en", "", 1950 + n % 50, "f", "b", "FR", "Likes ClickHouse")
               for n in range(1, profiles + 1)))
        _bulk(cursor, "INSERT INTO student_courseenrollment (id, user_id, course_id, created, is_active, mode) "
                      "VALUES (%s, %s, %s, %s, %s, %s)",
              ((n, (n - 1) // COURSES_PER_USER + 1, f"course-v1:Bench+C{(n - 1) % COURSES_PER_USER}+2026", now,
                n % 7 != 0, "verified" if n % 3 == 0 else "audit") for n in range(1, enrollments + 1)))
        cursor.execute("SET unique_checks = 1, foreign_key_checks = 1")
    connection.close()
    out(f"MariaDB {DB_NAME}: loaded {users:,} users, {profiles:,} profiles, {enrollments:,} enrollments "
        f"in {time.monotonic() - started:.0f}s")


def _bulk(cursor, sql, rows, chunk=5000):
    """executemany in chunks: mysqlclient turns each chunk into one multi-row INSERT."""
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == chunk:
            cursor.executemany(sql, batch)
            batch = []
    if batch:
        cursor.executemany(sql, batch)


def setup_clickhouse():
    from platform_plugin_aspects.clickhouse import get_clickhouse  # pylint: disable=import-outside-toplevel
    from platform_plugin_aspects.clickhouse.migrate import MigrationRunner  # pylint: disable=import-outside-toplevel

    MigrationRunner(get_clickhouse()).run()


# -- the three paths (each in its own process) ----------------------------------------------------------

def path_ours(table, batch_size):
    from django.core.management import call_command  # pylint: disable=import-outside-toplevel

    sink = {"course_enrollment": "course_enrollment", "user_profile": "user_profile"}[table]
    err = io.StringIO()
    call_command("dump_data_to_clickhouse", object=sink, restart=True, sleep_time=0, batch_size=batch_size,
                 stdout=io.StringIO(), stderr=err)


# STRAIGHT_JOIN: read enrollments in key order and look each user up. Without it MariaDB drives
# the join from auth_user and sorts every remaining row on every page (quadratic over a pass).
ENROLLMENT_SELECT = (
    "SELECT STRAIGHT_JOIN e.id, e.course_id, e.created, e.is_active, e.mode, u.username, e.user_id "
    "FROM student_courseenrollment e JOIN auth_user u ON u.id = e.user_id WHERE e.id > %s ORDER BY e.id LIMIT %s"
)


def path_ceiling(table, batch_size):
    """Raw keyset SELECT + clickhouse-connect insert of the same columns; returns seconds inside insert."""
    import clickhouse_connect  # pylint: disable=import-outside-toplevel

    from platform_plugin_aspects.clickhouse import get_clickhouse  # pylint: disable=import-outside-toplevel
    from platform_plugin_aspects.sinks.base import format_timestamp  # pylint: disable=import-outside-toplevel

    assert table == "course_enrollment"
    config = get_clickhouse().config
    url = urlparse(config.url)
    client = clickhouse_connect.get_client(host=url.hostname, port=url.port, username=config.username,
                                           password=config.password, database=CH_DATABASE, compress=True)
    columns = ["id", "course_key", "created", "is_active", "mode", "username", "user_id",
               "dump_id", "time_last_dumped", "version", "is_deleted"]
    connection = mysql()
    last, inserting = 0, 0.0
    with connection.cursor() as cursor:
        while True:
            cursor.execute(ENROLLMENT_SELECT, (last, batch_size))
            page = cursor.fetchall()
            if not page:
                break
            meta = [uuid.uuid4(), format_timestamp(datetime.now(timezone.utc)), time.time_ns(), 0]
            rows = [[i, c, format_timestamp(cr), bool(a), m, u, uid, *meta] for i, c, cr, a, m, u, uid in page]
            started = time.monotonic()
            client.insert("course_enrollment", rows, column_names=columns)
            inserting += time.monotonic() - started
            last = page[-1][0]
    return inserting


def path_offset(table, batch_size):
    """The existing plugin's shape: Paginator (COUNT + OFFSET), serializer per row, CSV per page, requests POST."""
    import requests  # pylint: disable=import-outside-toplevel
    from django.core.paginator import Paginator  # pylint: disable=import-outside-toplevel
    from django.utils import timezone  # pylint: disable=import-outside-toplevel

    from platform_plugin_aspects.clickhouse import get_clickhouse  # pylint: disable=import-outside-toplevel
    from tests.lms.student.models import CourseEnrollment  # pylint: disable=import-outside-toplevel

    assert table == "course_enrollment"
    config = get_clickhouse().config

    def serialize(enrollment):
        return {"id": enrollment.id, "course_key": str(enrollment.course_id), "created": enrollment.created.isoformat(),
                "is_active": int(enrollment.is_active), "mode": enrollment.mode, "username": enrollment.user.username,
                "user_id": enrollment.user_id, "dump_id": str(uuid.uuid4()), "time_last_dumped": str(timezone.now())}

    session_params = {"query": f"INSERT INTO {CH_DATABASE}.course_enrollment (id, course_key, created, is_active, "
                               "mode, username, user_id, dump_id, time_last_dumped) FORMAT CSV"}
    paginator = Paginator(CourseEnrollment.objects.select_related("user").order_by("pk"), batch_size)
    for number in paginator.page_range:
        body = io.StringIO()
        writer = csv.writer(body, quoting=csv.QUOTE_NONNUMERIC)
        for enrollment in paginator.page(number).object_list:
            writer.writerow(serialize(enrollment).values())
        response = requests.post(config.url, params=session_params, data=body.getvalue().encode("utf-8"),
                                 auth=(config.username, config.password), timeout=600)
        response.raise_for_status()


PATHS = {"ours": path_ours, "ceiling": path_ceiling, "offset": path_offset}


def run_path(name, table, batch_size):
    """Child process: empty the table, run one path, print JSON figures."""
    from platform_plugin_aspects.clickhouse import get_clickhouse  # pylint: disable=import-outside-toplevel

    clickhouse = get_clickhouse()
    clickhouse.command(f"TRUNCATE TABLE {clickhouse.qualified(table)}")
    started = time.monotonic()
    inserting = PATHS[name](table, batch_size)
    seconds = time.monotonic() - started
    rows = clickhouse.query(f"SELECT count() FROM {clickhouse.qualified(table)}")[0][0]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"path": name, "table": table, "rows": rows, "seconds": seconds, "peak_mb": peak_mb,
                      "insert_seconds": inserting}))


def child(name, table, args):
    command = [sys.executable, __file__, "--child", name, "--table", table, "--batch_size", str(args.batch_size),
               "--clickhouse_url", args.clickhouse_url]
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--enrollments", type=int, default=1_000_000)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--batch_size", type=int, default=10_000)
    parser.add_argument("--paths", default="ceiling,ours,offset", help="comma-separated subset of ceiling,ours,offset")
    parser.add_argument("--clickhouse_url", default=None,
                        help="default: the server in var/bench-clickhouse (see the module docstring)")
    parser.add_argument("--child", choices=sorted(PATHS), help=argparse.SUPPRESS)
    parser.add_argument("--table", default="course_enrollment", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.clickhouse_url:
        port_file = ROOT / "var" / "bench-clickhouse" / "http_port"
        if not port_file.exists():
            sys.exit("Start the benchmark ClickHouse first: python -m devstack.local_clickhouse "
                     "start --data-dir var/bench-clickhouse")
        args.clickhouse_url = f"http://127.0.0.1:{port_file.read_text().strip()}"
    configure(args.clickhouse_url)
    if args.child:
        run_path(args.child, args.table, args.batch_size)
        return
    print(f"cores: {os.cpu_count()} (shared with other work: figures vary between runs); batch {args.batch_size:,}")
    setup_data(args.enrollments, args.profiles, print)
    setup_clickhouse()
    results = {}
    for name in args.paths.split(","):
        results[name] = child(name, "course_enrollment", args)
        report(f"{name} (course_enrollment)", results[name])
    if "ours" in results:
        report("ours (user_profile)", child("ours", "user_profile", args))
    if "ceiling" in results:
        ceiling = results["ceiling"]
        print(f"insert-only (inside the ceiling): {ceiling['rows'] / ceiling['insert_seconds']:>12,.0f} rows/s")
    if {"ours", "ceiling"} <= set(results):
        print(f"ours / ceiling: {rate(results['ours']) / rate(results['ceiling']):.0%}   (target >= 50%)")
    if {"ours", "offset"} <= set(results):
        print(f"ours / offset baseline: {rate(results['ours']) / rate(results['offset']):.1f}x   (target >= 5x)")


def rate(result):
    return result["rows"] / result["seconds"]


def report(label, result):
    print(f"{label:28} {result['rows']:>9,} rows in {result['seconds']:7.1f}s = {rate(result):>9,.0f} rows/s, "
          f"peak {result['peak_mb']:6.0f} MB")


if __name__ == "__main__":
    main()
