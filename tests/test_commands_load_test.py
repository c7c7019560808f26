"""``load_test_tracking_events`` and ``monitor_load_test_tracking`` on the stand-in LMS and real ClickHouse/Redis."""

import io
import json
import uuid

import pytest
import redis
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command

from platform_plugin_aspects.clickhouse import get_clickhouse
from platform_plugin_aspects.models import OutboxEntry
from tests.lms.student.models import CourseEnrollment

from .sink_helpers import current

pytestmark = pytest.mark.django_db(transaction=True)


def run(command, *args):
    out = io.StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def runs():
    clickhouse = get_clickhouse()
    return clickhouse.query_dicts(f"SELECT run_id, event_type, extra FROM {clickhouse.qualified('load_test_runs')} "
                                  "ORDER BY timestamp")


def stats(run_id):
    clickhouse = get_clickhouse()
    rows = clickhouse.query(f"SELECT stats FROM {clickhouse.qualified('load_test_stats')} "
                            "WHERE run_id = {r:String} ORDER BY timestamp", {"r": run_id})
    return [json.loads(stats) for (stats,) in rows]


@pytest.fixture
def enrollment_sink_on(settings, clickhouse):
    settings.EVENT_SINK_CLICKHOUSE_COURSE_ENROLLMENT_ENABLED = True
    return clickhouse


def test_load_test_churns_enrollments_through_the_platform_and_records_the_run(enrollment_sink_on):
    out = run("load_test_tracking_events", "--num_users", "3", "--num_events", "6", "--sleep_time", "0",
              "--tags", "ci", "eager")
    start, end = runs()
    assert (start["event_type"], end["event_type"]) == ("start", "end") and start["run_id"] == end["run_id"]
    started = json.loads(start["extra"])
    assert started["num_users"] == 3 and started["tags"] == ["ci", "eager"]
    assert json.loads(end["extra"])["sent_event_count"] == 9  # 3 first enrollments + 6 changes
    assert f"run {start['run_id']}: 9 enrollment changes" in out

    users = User.objects.filter(username__startswith="lt_")
    assert users.count() == 3 and all(user.profile for user in users)
    lms = {(e.id, e.is_active) for e in CourseEnrollment.objects.filter(course_id=started["course_id"])}
    ch = {(r["id"], r["is_active"]) for r in current("course_enrollment", columns="id, is_active")}
    assert len(lms) == 3 and ch == lms  # every change was delivered by the live pipeline


def test_monitor_stops_when_the_run_ended_and_nothing_waits(enrollment_sink_on):
    run("load_test_tracking_events", "--num_users", "2", "--num_events", "2", "--sleep_time", "0")
    run_id = runs()[0]["run_id"]
    # A queue of its own: whatever else sits in the shared Redis must not keep the run "busy".
    out = run("monitor_load_test_tracking", "--sleep_time", "0", "--max_samples", "20",
              "--queues", f"test-monitor-empty-{uuid.uuid4().hex}")
    assert f"monitoring run {run_id}" in out and "ended and delivery caught up after 1 samples" in out
    [sample] = stats(run_id)
    assert sample["run_ended"] and sample["outbox_waiting"] == 0 and sample["lag_secs"] == 0
    assert sample["course_enrollment_rows"] >= 2 and sample["course_enrollment_age_secs"] < 60


def test_monitor_reports_lag_and_redis_queue_length_until_told_to_stop(clickhouse):
    clickhouse.insert("load_test_runs", [["run-x", "start", "{}"]], ["run_id", "event_type", "extra"])
    OutboxEntry.objects.create(sink="course_enrollment", object_key="1:course-v1:a+b+c")  # never flushed here
    queue = f"test-monitor-{uuid.uuid4().hex}"
    broker = redis.Redis.from_url(django_settings.CELERY_BROKER_URL)
    broker.rpush(queue, "m1", "m2")
    try:
        out = run("monitor_load_test_tracking", "--sleep_time", "0", "--max_samples", "2", "--queues", queue)
    finally:
        broker.delete(queue)
        broker.close()
    assert "stopped after 2 samples; lag not zero yet" in out
    first, second = stats("run-x")
    assert first["outbox_waiting"] == 1 and first["celery_queues"] == {queue: 2} and not first["run_ended"]
    assert second["lag_secs"] >= first["lag_secs"] > 0


def test_monitor_without_a_run_is_a_clear_error(clickhouse):
    with pytest.raises(CommandError, match="No load test run in progress"):
        run("monitor_load_test_tracking", "--wait", "0", "--sleep_time", "0")
    with pytest.raises(CommandError, match="No load test run with id nope"):
        run("monitor_load_test_tracking", "--wait", "0", "--run_id", "nope")


def test_load_test_rejects_bad_input(clickhouse):
    with pytest.raises(CommandError, match="--rate must be more than 0"):
        run("load_test_tracking_events", "--rate", "0")
    with pytest.raises(CommandError, match="not a course key"):
        run("load_test_tracking_events", "--course_key", "nope", "--num_events", "0")
    assert runs() == []
