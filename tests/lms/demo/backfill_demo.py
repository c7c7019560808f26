"""
The demo's backfill step: run the real ``dump_data_to_clickhouse --all`` on the stand-in LMS.

The lead's ``aspects_demo`` command calls :func:`run_backfill_demo`; progress (bar, rate, ETA) goes
to stderr so it stays visible on a terminal while stdout keeps the summary.
"""

import sys

from django.core.management import call_command

from platform_plugin_aspects.clickhouse import get_clickhouse
from platform_plugin_aspects.sinks import all_sinks


def backfilled_tables():
    """Every table a backfill of the enabled sinks writes (courses bring their blocks)."""
    tables = []
    for sink in all_sinks():
        if sink.dumpable and sink.is_enabled():
            tables += [sink.table] + (["course_blocks"] if sink.name == "course_overviews" else [])
    return tables


def run_backfill_demo(stdout, stderr=None):
    """
    Backfill every enabled object (a fresh pass: ``--restart``) and return ``{table: current rows}``.

    ``--sleep_time 0`` because the stand-in LMS needs no throttling; the counts are read back from
    ClickHouse with FINAL, i.e. one row per object however often it was written.
    """
    stdout.write("Backfill: manage.py dump_data_to_clickhouse --all --restart --sleep_time 0\n")
    call_command("dump_data_to_clickhouse", "--all", "--restart", "--sleep_time", "0",
                 stdout=stdout, stderr=stderr or sys.stderr)
    clickhouse = get_clickhouse()
    counts = {}
    for table in backfilled_tables():
        counts[table] = clickhouse.query(f"SELECT count() FROM {clickhouse.qualified(table)} FINAL")[0][0]
        stdout.write(f"  {table:20} {counts[table]:>8} current rows\n")
    return counts
