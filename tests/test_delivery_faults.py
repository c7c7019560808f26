"""
Delivery when something goes wrong: a row that cannot be built, a delete and a re-create of one
learner's enrollment in one flush, rows ClickHouse refuses (what the operator reads), Ctrl-C.

Each test here reproduced a defect of issue 14 on the code before its fix.
"""

import json
import os
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.utils import timezone
from openedx_events.learning.data import CourseData, PersistentCourseGradeData
from openedx_events.learning.signals import PERSISTENT_GRADE_SUMMARY_CHANGED

from platform_plugin_aspects.clickhouse import reset_connections
from platform_plugin_aspects.delivery.flusher import drain
from platform_plugin_aspects.models import DeliveryStatus, OutboxEntry
from platform_plugin_aspects.sinks import get_sink
from tests.lms.grades.models import PersistentCourseGrade
from tests.lms.student.models import CourseEnrollment

from .celery_worker import beat_until_delivered, ctrl_c_restored, real_worker, subprocess_env
from .factories import make_course, make_user
from .sink_helpers import (
    current,
    enable_all,
    enrollments_in_clickhouse,
    enrollments_in_lms,
    physical_rows,
    profiles_in_clickhouse,
    profiles_in_lms,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
COURSE = "course-v1:OpenedX+Faults+2026"
ROOT = Path(__file__).resolve().parents[1]


def queued_without_flushing(settings):
    """Changes made from here on wait in the outbox (no eager flush on commit)."""
    from platform_plugin_aspects.delivery import outbox  # pylint: disable=import-outside-toplevel

    settings.CELERY_TASK_ALWAYS_EAGER = False
    outbox._next_flush_at = float("inf")  # pylint: disable=protected-access


@pytest.fixture(autouse=True)
def _flushes_scheduled_again():
    yield
    from platform_plugin_aspects.delivery import outbox  # pylint: disable=import-outside-toplevel

    outbox._next_flush_at = 0.0  # pylint: disable=protected-access


# -- 1. a row that cannot be built ------------------------------------------------------------

def test_a_row_that_cannot_be_built_fails_alone_and_is_replayed_after_the_fix(settings, clickhouse, monkeypatch):
    """
    Three profiles saved, the builder failing for one (platform data nobody expected): the other
    two arrive in the same flush, the third is marked failed with the exception, counted, shown by
    DeliveryStatus and aspects_status, and --retry-failed delivers it once the builder is fixed.
    """
    enable_all(settings)
    queued_without_flushing(settings)
    users = [make_user(f"built{i}", city=f"city{i}") for i in range(3)]
    bad = users[1]
    sink = get_sink("user_profile")
    real_row = sink.row

    def row_failing_for_one(profile, **options):
        if profile.user_id == bad.id:
            raise KeyError("language_proficiencies")  # injected: a fault we cannot cause for real
        return real_row(profile, **options)

    monkeypatch.setattr(sink, "row", row_failing_for_one)
    out = StringIO()
    call_command("flush_clickhouse_outbox", "--now", stdout=out)
    expected = profiles_in_lms()
    assert profiles_in_clickhouse() == [row for row in expected if row[0] != bad.id]
    [entry] = OutboxEntry.objects.all()
    assert (entry.object_key, entry.failed, entry.attempts) == (str(bad.profile.id), True, 1)
    assert entry.last_error == "KeyError: 'language_proficiencies'"
    assert "delivered 2, failed 1" in out.getvalue()
    status = DeliveryStatus.objects.get(sink="user_profile")
    assert status.delivered == 2 and "KeyError: 'language_proficiencies'" in status.last_error
    report = StringIO()
    with pytest.raises(CommandError, match="UNHEALTHY"):
        call_command("aspects_status", "--json", stdout=report)
    [profile_status] = [s for s in json.loads(report.getvalue())["sinks"] if s["name"] == "user_profile"]
    assert profile_status["failed"] == 1 and "KeyError" in profile_status["last_error"]

    monkeypatch.undo()  # the fix is deployed
    call_command("flush_clickhouse_outbox", "--retry-failed", stdout=StringIO())
    assert profiles_in_clickhouse() == expected and not OutboxEntry.objects.exists()


def test_a_failing_load_is_isolated_per_object_too(settings, clickhouse, monkeypatch):
    """Reading the objects fails only for one key: the batch is split until that key is alone."""
    enable_all(settings)
    queued_without_flushing(settings)
    users = [make_user(f"loaded{i}") for i in range(5)]
    sink, bad_key = get_sink("user_profile"), str(users[3].profile.id)
    real_load = sink.load

    def load_failing_with_one(keys):
        if bad_key in keys:
            raise ValueError("cannot read profile")
        return real_load(keys)

    monkeypatch.setattr(sink, "load", load_failing_with_one)
    result = drain(ignore_schedule=True)
    assert (result.delivered, result.failed) == (4, 1)
    assert profiles_in_clickhouse() == [row for row in profiles_in_lms() if row[0] != users[3].id]
    [entry] = OutboxEntry.objects.filter(failed=True)
    assert entry.object_key == bad_key and entry.last_error == "ValueError: cannot read profile"


def test_a_related_object_that_cannot_be_built_gets_one_failed_entry_of_its_own(settings, clickhouse, monkeypatch):
    """Tagging a course refreshes the course; if that fails, the tags still arrive and the course is kept to replay."""
    from tests.lms.tagging.models import ObjectTag, Tag, Taxonomy  # pylint: disable=import-outside-toplevel

    enable_all(settings)
    make_course(COURSE)  # delivered at once (eager)
    queued_without_flushing(settings)
    taxonomy = Taxonomy.objects.create(name="Level")
    tag = Tag.objects.create(taxonomy=taxonomy, value="Intro")
    sink = get_sink("course_overviews")
    monkeypatch.setattr(sink, "row", lambda overview, tags=None: 1 / 0)  # injected: the course's row fails
    for _ in range(2):  # two flushes each find the course to refresh
        ObjectTag.objects.create(object_id=COURSE, taxonomy=taxonomy, tag=tag, _value="Intro")
        drain(ignore_schedule=True)
    assert len(current("object_tag")) == 2 and len(current("taxonomy")) == 1
    [entry] = OutboxEntry.objects.all()
    assert (entry.sink, entry.object_key, entry.failed) == ("course_overviews", COURSE, True)
    assert entry.last_error == "ZeroDivisionError: division by zero"

    monkeypatch.undo()
    call_command("flush_clickhouse_outbox", "--retry-failed", stdout=StringIO())
    [course] = current("course_overviews", columns="course_data_json")
    assert json.loads(course["course_data_json"])["tags"] == [tag.id] and not OutboxEntry.objects.exists()


# -- 2. delete and re-create in one flush ----------------------------------------------------------

def delete_and_reenroll(users):
    """Each learner's (delivered) enrollment is deleted, and they enroll again: a new enrollment id."""
    for user in users:
        first = CourseEnrollment.objects.get(user=user, course_id=COURSE)
        first_id = first.id
        first.delete()
        assert CourseEnrollment.enroll(user, COURSE, mode="verified").id != first_id


def deliver_with_a_real_worker(settings):
    """What waits in the outbox, delivered by a real Celery worker (one flush for a small backlog)."""
    from platform_plugin_aspects.tasks import flush_outbox  # pylint: disable=import-outside-toplevel

    with real_worker():
        flush_outbox.apply_async(queue=settings.ASPECTS_CELERY_QUEUE)
        assert wait_for(lambda: not OutboxEntry.objects.exists(), timeout=60)


def test_delete_and_reenroll_in_one_flush_leaves_one_current_row(settings, clickhouse):
    enable_all(settings)
    users = [make_user(f"again{i}") for i in range(3)]
    for user in users:
        CourseEnrollment.enroll(user, COURSE)  # delivered at once (eager): rows in ClickHouse
    queued_without_flushing(settings)
    delete_and_reenroll(users)
    deliver_with_a_real_worker(settings)
    assert enrollments_in_clickhouse() == enrollments_in_lms()
    assert len(enrollments_in_lms()) == 3 and {row[3] for row in enrollments_in_lms()} == {"verified"}


def test_delete_reenroll_and_delete_again_leaves_no_current_row(settings, clickhouse):
    """Two deletes of different rows under one key: both tombstones go out."""
    enable_all(settings)
    user = make_user("gone-twice")
    CourseEnrollment.enroll(user, COURSE)  # delivered at once (eager): a row in ClickHouse
    queued_without_flushing(settings)
    CourseEnrollment.objects.get(user=user).delete()
    CourseEnrollment.enroll(user, COURSE).delete()
    deliver_with_a_real_worker(settings)
    assert enrollments_in_clickhouse() == enrollments_in_lms() == []


def test_delete_and_reenroll_during_an_outage_leaves_one_current_row(settings, own_clickhouse):
    """
    ClickHouse down while learners re-enroll, a real worker trying (and backing off) meanwhile:
    the delete and the re-enrollment may fail, wait and go out together or apart; once ClickHouse
    is back, each learner has one current row, the new one.
    """
    enable_all(settings)
    users = [make_user(f"outage-again{i}") for i in range(5)]
    for user in users:
        CourseEnrollment.enroll(user, COURSE)  # delivered before the outage (eager)
    assert len(enrollments_in_clickhouse()) == 5
    port = own_clickhouse.http_port
    own_clickhouse.stop()
    with real_worker():
        delete_and_reenroll(users)
        assert wait_for(lambda: OutboxEntry.objects.filter(attempts__gt=0).exists())  # tried while down
        own_clickhouse.start(port=port)
        reset_connections()
        assert beat_until_delivered()
    assert enrollments_in_clickhouse() == enrollments_in_lms()
    assert {row[3] for row in enrollments_in_lms()} == {"verified"}


def grades_in_lms():
    return sorted((g.user_id, str(g.course_id), g.percent_grade) for g in PersistentCourseGrade.objects.all())


def grades_in_clickhouse():
    return sorted((r["user_id"], r["course_key"], r["percent_grade"])
                  for r in current("course_grades", columns="user_id, course_key, percent_grade"))


def announce_grade(grade):
    """PERSISTENT_GRADE_SUMMARY_CHANGED, as the platform sends it after saving a grade."""
    PERSISTENT_GRADE_SUMMARY_CHANGED.send_event(grade=PersistentCourseGradeData(
        user_id=grade.user_id, course=CourseData(course_key=grade.course_id), course_edited_timestamp=None,
        course_version="", grading_policy_hash="h", percent_grade=grade.percent_grade, letter_grade="",
        passed_timestamp=None))


def test_a_delete_delivered_after_the_object_came_back_leaves_it_current(settings, own_clickhouse):
    """
    The delete of a grade fails during an outage and backs off; the grade is re-created (the same
    identity: learner and course) and goes out first. When the older delete goes out, the LMS has
    the grade again: it stays current, no tombstone hides it.
    """
    enable_all(settings)
    user = make_user("regraded")
    grade = PersistentCourseGrade.objects.create(user_id=user.id, course_id=COURSE, percent_grade=0.3,
                                                 letter_grade="", grading_policy_hash="h")
    announce_grade(grade)  # delivered at once (eager)
    assert grades_in_clickhouse() == grades_in_lms()
    queued_without_flushing(settings)
    port = own_clickhouse.http_port
    own_clickhouse.stop()
    grade.delete()
    assert drain().error  # ClickHouse is down: the delete backs off...
    OutboxEntry.objects.update(next_attempt_at=timezone.now() + timedelta(minutes=5))  # ...as after a long outage
    own_clickhouse.start(port=port)
    reset_connections()
    grade = PersistentCourseGrade.objects.create(user_id=user.id, course_id=COURSE, percent_grade=0.9,
                                                 letter_grade="", grading_policy_hash="h")
    announce_grade(grade)
    assert drain().delivered == 1 and OutboxEntry.objects.filter(action=OutboxEntry.DELETE).exists()
    assert grades_in_clickhouse() == grades_in_lms()
    drain(ignore_schedule=True)  # the delete's turn
    assert not OutboxEntry.objects.exists()
    assert grades_in_clickhouse() == grades_in_lms() == [(user.id, COURSE, 0.9)]


# -- 4. what the operator reads --------------------------------------------------------------------

def run_command(*args, env=None, **popen):
    return subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "manage.py", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**subprocess_env(), **(env or {})}, **popen)


def test_refused_rows_log_one_line_each_and_no_driver_traceback(settings, clickhouse, huge_tag_ids):
    from tests.lms.tagging.models import Tag, Taxonomy  # pylint: disable=import-outside-toplevel

    enable_all(settings)
    queued_without_flushing(settings)
    taxonomy = Taxonomy.objects.create(name="refusals")
    with transaction.atomic():
        for i in range(30):
            Tag.objects.create(taxonomy=taxonomy, value=f"fits {i}")
        Tag.objects.create(id=2**33, taxonomy=taxonomy, value="too big")
        Tag.objects.create(id=2**34, taxonomy=taxonomy, value="too big too")
    process = run_command("flush_clickhouse_outbox", "--now")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 2, err
    for tag_id in (2**33, 2**34):
        [line] = [line for line in lines if f"the row of tag:{tag_id}," in line]
        assert "table tag, column 'id' (Int32): " in line and "--list-failed" in line, line
    assert "delivered 31, failed 2" in out
    assert len(current("tag")) == 30

    # At DEBUG the driver's traceback is there, once per refused row (not once per insert attempt).
    OutboxEntry.objects.filter(failed=True).update(failed=False)
    process = run_command("flush_clickhouse_outbox", "--now", env={"ASPECTS_LOG_LEVEL": "DEBUG"})
    _, err = process.communicate(timeout=120)
    assert err.count("Driver traceback for the refused row of tag:") == 2, err
    assert "Error serializing column" not in err  # the driver's own copy, once per attempt


def test_clickhouse_down_logs_our_lines_not_the_drivers(settings, clickhouse):
    """An operator draining during an outage reads one line per attempt and the reason, no driver noise."""
    enable_all(settings)
    queued_without_flushing(settings)
    make_user("waiting-out-the-outage")
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    process = run_command("flush_clickhouse_outbox", "--now", env={"CLICKHOUSE_URL": f"http://127.0.0.1:{port}"})
    _, err = process.communicate(timeout=120)
    assert process.returncode == 1 and "ClickHouse unavailable, entries kept for later" in err, err
    assert "Unexpected Http Driver Exception" not in err and "Traceback" not in err, err
    assert OutboxEntry.objects.filter(failed=False).count() == 1  # kept, backing off


@pytest.mark.parametrize("command", [
    ("flush_clickhouse_outbox", "--loop"),
    ("load_test_tracking_events", "--num_users", "2", "--run_until_killed", "--sleep_time", "0.05"),
    ("dump_data_to_clickhouse", "--object", "user_profile", "--batch_size", "1", "--sleep_time", "0.5", "--force"),
    ("load_tracking_log", "{log}", "--batch-size", "1", "--workers", "2", "--no-progress"),
    ("monitor_load_test_tracking", "--sleep_time", "0.2"),
])
def test_ctrl_c_prints_how_to_resume_and_exits_130(settings, clickhouse, tmp_path, command):
    """One shared mechanism: the line names the command to run again, the exit code is 130."""
    from waffle.models import Flag  # pylint: disable=import-outside-toplevel

    from platform_plugin_aspects.management.commands.load_test_tracking_events import (  # pylint: disable=import-outside-toplevel
        record_run_event,
    )

    from .tracking_factory import activity, log_line  # pylint: disable=import-outside-toplevel

    enable_all(settings)
    Flag.objects.create(name="event_sink_clickhouse.user_profile.enabled", everyone=True)  # for the command too
    queued_without_flushing(settings)  # the loop's first deliveries show it is running
    for i in range(20):
        make_user(f"interrupted{i}")
    log = tmp_path / "tracking.log"
    log.write_text("".join(log_line(e) for e in activity(COURSE, [(1, "ada")], per_learner=20000)))
    if command[0] == "monitor_load_test_tracking":
        record_run_event(clickhouse, "run-to-watch", "start", {})  # what it watches
    args = [str(log) if part == "{log}" else part for part in command]
    process = run_command(*args, env={"PYTHONUNBUFFERED": "1"}, start_new_session=True, preexec_fn=ctrl_c_restored)
    try:
        running = wait_for(lambda: process.poll() is not None or _is_working(command[0], clickhouse), timeout=60)
        assert running and process.poll() is None, process.communicate()
        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C reaches the whole foreground process group
        out, err = process.communicate(timeout=60)
    finally:  # a command still running would write into the next tests' tables
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    [line] = [text for text in err.splitlines() if "interrupted" in text.lower()]
    assert f"run manage.py {command[0]}" in line and "again" in line, line


def _is_working(command, clickhouse):
    """True once the command is past its start-up, doing its long work."""
    if command == "flush_clickhouse_outbox":
        return not OutboxEntry.objects.exists()
    if command == "load_test_tracking_events":
        return clickhouse.query("SELECT count() FROM load_test_runs")[0][0] > 0
    if command == "monitor_load_test_tracking":
        return clickhouse.query("SELECT count() FROM load_test_stats")[0][0] > 0
    if command == "dump_data_to_clickhouse":
        return physical_rows("user_profile") > 0
    return physical_rows("tracking_events") > 0
