"""``aspects_status``: the report, and an exit code operators can alert on."""

import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from platform_plugin_aspects.analytics.model import refresh_kept_tables, stop_refreshes
from platform_plugin_aspects.clickhouse import ClickHouseError, get_clickhouse
from platform_plugin_aspects.models import DeliveryStatus, OutboxEntry
from tests.lms.tagging.models import Taxonomy
from tests.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def status(*args):
    """(report dict, exit code) of ``aspects_status --json``."""
    out = io.StringIO()
    try:
        call_command("aspects_status", "--json", *args, stdout=out)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        assert str(exc).startswith("UNHEALTHY: ")
    return json.loads(out.getvalue()), code


def test_healthy_report_has_sinks_outbox_and_table_freshness(settings, clickhouse):
    settings.EVENT_SINK_CLICKHOUSE_TAXONOMY_ENABLED = True
    Taxonomy.objects.create(name="Topics")  # delivered at once (eager Celery)
    report, code = status()
    assert code == 0 and report["healthy"] and report["problems"] == []
    assert report["clickhouse"]["reachable"] and report["migrations"]["pending"] == []
    sinks = {s["name"]: s for s in report["sinks"]}
    assert sinks["taxonomy"]["enabled"] and sinks["taxonomy"]["delivered"] == 1 and sinks["taxonomy"]["last_success"]
    assert not sinks["user_profile"]["enabled"] and sinks["user_profile"]["pii"]
    tables = {t["table"]: t for t in report["tables"]}
    assert tables["taxonomy"]["rows"] == 1 and 0 <= tables["taxonomy"]["age_secs"] < 60
    assert tables["course_enrollment"]["rows"] == 0 and tables["course_enrollment"]["latest_write"] is None
    assert report["outbox"] == {"waiting": 0, "failed": 0, "oldest_secs": None}


def test_a_refresh_cancelled_by_stopping_it_is_reported_stopped_not_failing(clickhouse):
    """
    Stopping a refresh cancels the one running, and ClickHouse then says "cancelled" until the next
    attempt succeeds, which a stopped refresh never starts: a stop during a refresh (between the
    suite's tests, or an operator's) is a hint, never an UNHEALTHY exit. Failure injection: the
    real refresh is swapped for one of the same name that runs for seconds, so that the stop
    always meets it running.
    """
    view = clickhouse.qualified("analytics_learner_rollup_refresh")

    def state():  # (status, exception) as ClickHouse itself says them
        return clickhouse.query(
            "SELECT status, exception FROM system.view_refreshes WHERE database = {db:String} AND view = {v:String}",
            {"db": clickhouse.database, "v": "analytics_learner_rollup_refresh"})

    stop_refreshes(clickhouse)
    clickhouse.command(f"RENAME TABLE {view} TO {view}_away")
    try:
        clickhouse.command(f"CREATE TABLE {view}_target (x UInt64) ENGINE = MergeTree ORDER BY x")
        clickhouse.command(f"CREATE MATERIALIZED VIEW {view} REFRESH EVERY 1 HOUR APPEND TO {view}_target AS "
                           "SELECT sleepEachRow(1) + number AS x FROM numbers(5) SETTINGS max_block_size = 1")
        clickhouse.command(f"SYSTEM REFRESH VIEW {view}")
        assert wait_for(lambda: [status for status, _ in state()] == ["Running"], timeout=10)
        stop_refreshes(clickhouse)
        assert wait_for(lambda: state() == [("Disabled", "cancelled")], timeout=10)
        report, code = status()
        assert code == 0 and report["problems"] == [], report["problems"]
        assert any("analytics_learner_rollup_refresh" in hint and "SYSTEM START VIEW" in hint
                   for hint in report["hints"])
    finally:
        clickhouse.command(f"DROP VIEW IF EXISTS {view}")
        clickhouse.command(f"DROP TABLE IF EXISTS {view}_target")
        clickhouse.command(f"RENAME TABLE {view}_away TO {view}")
        clickhouse.forget_schema()


@pytest.mark.parametrize("table", ["analytics_video_watch", "analytics_learner_rollup"])
def test_the_refreshes_are_reported_a_stopped_one_is_a_hint_a_failing_one_a_problem(clickhouse, table):
    refresh_kept_tables(clickhouse)
    report, code = status()
    states = {refresh["table"]: refresh for refresh in report["refreshes"]}
    assert set(states) == {"analytics_video_watch", "analytics_learner_rollup"}
    assert code == 0 and states[table]["last_success"] and not states[table]["failing"]
    assert not any("refresh of" in hint for hint in report["hints"])

    stop_refreshes(clickhouse)
    report, code = status()
    assert code == 0 and {refresh["status"] for refresh in report["refreshes"]} == {"Disabled"}
    assert any(f"{table}_refresh" in hint and "SYSTEM START VIEW" in hint for hint in report["hints"])

    # A real failure: the table it appends to is gone while it runs.
    clickhouse.command(f"RENAME TABLE {clickhouse.qualified(table)} TO {clickhouse.qualified(table + '_away')}")
    try:
        with pytest.raises(ClickHouseError):
            refresh_kept_tables(clickhouse, keep_running=False)
        report, code = status()
        assert code == 1 and [p for p in report["problems"] if "refresh of" in p] == [
            next(p for p in report["problems"] if f"refresh of {table} fails" in p)]
    finally:
        clickhouse.command(f"RENAME TABLE {clickhouse.qualified(table + '_away')} TO {clickhouse.qualified(table)}")
        refresh_kept_tables(clickhouse, keep_running=False)
    # Once a refresh succeeds again, the old error is history, not a problem.
    report, code = status()
    assert code == 0 and not any(refresh["failing"] for refresh in report["refreshes"]), report["problems"]


def test_text_report_exits_zero_when_healthy(clickhouse):
    out = io.StringIO()
    call_command("aspects_status", stdout=out)
    text = out.getvalue()
    assert "reachable" in text and "Migrations  all applied" in text and "Status: HEALTHY" in text
    assert "course_enrollment" in text


def test_clickhouse_down_is_unhealthy(clickhouse):
    report, code = status("--url", "http://127.0.0.1:1")
    assert code == 1 and not report["clickhouse"]["reachable"]
    assert "connection refused" in report["problems"][0]


def test_pending_migrations_are_unhealthy(clickhouse):
    clickhouse.command("CREATE DATABASE IF NOT EXISTS test_status_unmigrated")
    try:
        report, code = status("--database", "test_status_unmigrated")
    finally:
        clickhouse.command("DROP DATABASE test_status_unmigrated")
    assert code == 1 and "0001_event_sink_tables" in report["migrations"]["pending"]
    assert any("migration(s) pending" in p for p in report["problems"])


def test_rejected_entries_are_unhealthy(clickhouse):
    OutboxEntry.objects.create(sink="taxonomy", object_key="7", failed=True, last_error="Bad row")
    report, code = status()
    assert code == 1 and report["outbox"]["failed"] == 1
    assert {s["name"]: s["failed"] for s in report["sinks"]}["taxonomy"] == 1


def test_outbox_older_than_max_age_is_unhealthy(clickhouse):
    OutboxEntry.objects.create(sink="taxonomy", object_key="7", created=timezone.now() - timedelta(hours=1))
    DeliveryStatus.objects.create(sink="taxonomy", last_failure=timezone.now(), last_error="connection refused")
    report, code = status("--max-age", "60")
    assert code == 1 and report["outbox"]["waiting"] == 1 and report["outbox"]["oldest_secs"] >= 3600
    assert {s["name"]: s["last_error"] for s in report["sinks"]}["taxonomy"] == "connection refused"
    _, code = status("--max-age", "7200")
    assert code == 0


def test_connection_override_reaches_the_right_database(clickhouse):
    report, _ = status("--database", get_clickhouse().database)
    assert report["clickhouse"]["database"] == get_clickhouse().database


def test_coverage_names_the_backfill_that_is_due(settings, clickhouse):
    """Enrollments made before the sink was on are missing until a backfill; --coverage says so."""
    from tests.factories import make_user  # pylint: disable=import-outside-toplevel
    from tests.lms.student.models import CourseEnrollment  # pylint: disable=import-outside-toplevel

    course = "course-v1:OpenedX+Coverage+2026"
    for n in range(3):
        CourseEnrollment.enroll(make_user(f"early{n}"), course)  # sink off: nothing recorded
    settings.EVENT_SINK_CLICKHOUSE_COURSE_ENROLLMENT_ENABLED = True
    report, code = status("--coverage")
    assert code == 0  # a gap to fill, not an outage
    [row] = [row for row in report["coverage"] if row["sink"] == "course_enrollment"]
    assert (row["lms"], row["clickhouse"], row["missing"]) == (3, 0, 3)
    # (the tests keep the refreshes stopped, which is a hint of its own)
    assert [hint for hint in report["hints"] if "refresh of" not in hint] == [
        "3 course_enrollment object(s) are not in ClickHouse: "
        "manage.py cms dump_data_to_clickhouse --object course_enrollment"]
    assert "user_profile" not in {row["sink"] for row in report["coverage"]}  # disabled sinks are not counted
    call_command("dump_data_to_clickhouse", "--object", "course_enrollment", stdout=io.StringIO(),
                 stderr=io.StringIO())
    report, _ = status("--coverage")
    [row] = [row for row in report["coverage"] if row["sink"] == "course_enrollment"]
    assert row["missing"] == 0 and [hint for hint in report["hints"] if "refresh of" not in hint] == []
    out = io.StringIO()
    call_command("aspects_status", "--coverage", stdout=out)
    assert "course_enrollment        3              3        0" in out.getvalue()
