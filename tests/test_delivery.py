"""
Durable delivery under real conditions: a ClickHouse outage, a real Celery worker on Redis, and
the operator's drain command.
"""

import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connections, transaction
from django.utils import timezone

from platform_plugin_aspects.clickhouse import reset_connections
from platform_plugin_aspects.delivery.flusher import FlushResult, flush
from platform_plugin_aspects.models import DeliveryStatus, OutboxEntry
from platform_plugin_aspects.sinks import get_sink
from tests.lms.student.models import CourseEnrollment, UserProfile

from .celery_worker import beat_until_delivered, real_worker, shared_cache, subprocess_env
from .factories import make_user
from .sink_helpers import (
    current,
    enable_all,
    enrollments_in_clickhouse,
    enrollments_in_lms,
    physical_rows,
    profiles_in_clickhouse,
    profiles_in_lms,
    repeated_rows,
    stop_merges,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)
COURSE = "course-v1:OpenedX+Outage+2026"


@contextmanager
def no_flush_from_this_process():
    """Commits in this process schedule no flush (as if the task were lost); only someone else delivers."""
    from platform_plugin_aspects.delivery import outbox  # pylint: disable=import-outside-toplevel

    outbox._next_flush_at = float("inf")  # pylint: disable=protected-access
    try:
        yield
    finally:
        outbox._next_flush_at = 0.0  # pylint: disable=protected-access


def is_claimed(entry):
    """True while a flush holds ``entry`` (its lease moved its next attempt into the future)."""
    return OutboxEntry.objects.filter(id=entry.id, next_attempt_at__gt=timezone.now()).exists()


def enroll_steadily(users, first_alone=False):
    """
    Enroll ``users`` one request at a time, 40 ms apart; True once every row is in ClickHouse.

    ``first_alone``: wait until the first enrollment is in ClickHouse before the others, so the
    deliverer is known to be running and the others come in later inserts (on a loaded machine a
    deliverer that starts slowly would otherwise find all of them at once: a single insert, no gap
    to measure).
    """
    for number, user in enumerate(users):
        CourseEnrollment.enroll(user, COURSE)
        if first_alone and number == 0:
            wait_for(lambda: len(current("course_enrollment")) == 1, timeout=120)
        time.sleep(0.04)
    return wait_for(lambda: len(current("course_enrollment")) == len(users)
                    and not OutboxEntry.objects.exists())  # (the outbox is cleared just after the insert)


def gaps_between_inserts(clickhouse, table):
    """Seconds between consecutive inserts into ``table`` (each has its dump_id and time sent)."""
    sent = sorted(datetime.fromisoformat(text).timestamp() for (text,) in clickhouse.query(
        f"SELECT any(time_last_dumped) FROM {table} GROUP BY dump_id"))
    return [later - earlier for earlier, later in zip(sent, sent[1:])]


def test_outage_of_clickhouse_loses_nothing_and_counts_once(settings, own_clickhouse):
    enable_all(settings)
    users = [make_user(f"outage{i}") for i in range(250)]
    assert len(current("user_profile")) == 250
    port = own_clickhouse.http_port
    own_clickhouse.stop()

    with real_worker():  # it tries, fails and backs off while ClickHouse is down
        # 1,000 changes while ClickHouse is down: 250 enrollments, 3 x 250 profile edits.
        for round_number in range(4):
            with transaction.atomic():
                for user in users:
                    if round_number == 0:
                        CourseEnrollment.enroll(user, COURSE)
                    else:
                        UserProfile.objects.filter(user=user).update(city=f"city-{round_number}")
                        user.profile.refresh_from_db()
                        user.profile.save()
        assert wait_for(lambda: DeliveryStatus.objects.filter(sink="user_profile").exclude(last_error="").exists())
        assert OutboxEntry.objects.filter(failed=False).count() >= 1000

        own_clickhouse.start(port=port)
        reset_connections()
        stop_merges("user_profile", "course_enrollment")  # every version written stays countable
        assert beat_until_delivered()

    assert enrollments_in_clickhouse() == enrollments_in_lms() and len(enrollments_in_lms()) == 250
    assert profiles_in_clickhouse() == profiles_in_lms()
    assert {city for _, _, city in profiles_in_lms()} == {"city-3"}
    # Physically too: no state of an object was written twice, however often the flush was
    # attempted meanwhile (the edits may arrive in more than one flush: each is a newer version).
    assert repeated_rows("user_profile", "id") == 0 and repeated_rows("course_enrollment", "id") == 0
    assert 500 <= physical_rows("user_profile") <= 1000 and physical_rows("course_enrollment") == 250


def test_real_celery_worker_delivers_committed_enrollments(settings, clickhouse):
    enable_all(settings)
    settings.ASPECTS_FLUSH_DELAY_SECS = 0.1
    with real_worker():
        users = [make_user(f"live{i}") for i in range(20)]
        for user in users:
            CourseEnrollment.enroll(user, COURSE, mode="verified")
        assert wait_for(lambda: enrollments_in_clickhouse() == enrollments_in_lms()
                        and profiles_in_clickhouse() == profiles_in_lms())
        # The worker deletes an outbox entry only after its rows are in ClickHouse, so the
        # rows can be visible a moment before the outbox is empty: wait for that too.
        assert wait_for(lambda: OutboxEntry.objects.count() == 0)
    assert {mode for _, _, _, mode, _ in enrollments_in_lms()} == {"verified"}
    assert len(enrollments_in_lms()) == 20


def test_drain_command_delivers_and_reports(settings, clickhouse):
    enable_all(settings)
    settings.CELERY_TASK_ALWAYS_EAGER = False  # nothing flushes on commit; entries wait
    settings.ASPECTS_FLUSH_DELAY_SECS = 3600
    with no_flush_from_this_process():
        make_user("waiting")
        assert OutboxEntry.objects.count() == 1 and current("user_profile") == []
        out = StringIO()
        call_command("flush_clickhouse_outbox", "--now", stdout=out)
        assert "delivered 1" in out.getvalue() and "still queued: 0" in out.getvalue()
        assert [r["username"] for r in current("user_profile")] == ["waiting"]


def test_the_periodic_task_delivers_changes_whose_flush_was_lost(settings, clickhouse):
    """Celery beat's drain_outbox finds what no flush task is coming for."""
    from platform_plugin_aspects.tasks import drain_outbox  # pylint: disable=import-outside-toplevel

    enable_all(settings)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    with no_flush_from_this_process():  # as if the task was lost
        make_user("forgotten")
    assert OutboxEntry.objects.count() == 1 and current("user_profile") == []
    with real_worker():  # beat sends drain_outbox; the worker runs it and the flush it asks for
        drain_outbox.apply_async(queue=settings.ASPECTS_CELERY_QUEUE)
        assert wait_for(lambda: not OutboxEntry.objects.exists())
    assert profiles_in_clickhouse() == profiles_in_lms() and len(profiles_in_lms()) == 1


def test_rejected_entries_can_be_listed_and_replayed(settings, clickhouse, huge_tag_ids):
    enable_all(settings)
    from tests.lms.tagging.models import Tag, Taxonomy  # pylint: disable=import-outside-toplevel

    with real_worker():
        taxonomy = Taxonomy.objects.create(name="t")
        tag = Tag.objects.create(id=2**33, taxonomy=taxonomy, value="huge id")
        assert wait_for(lambda: OutboxEntry.objects.filter(failed=True).exists()
                        and not OutboxEntry.objects.filter(failed=False).exists())
    assert [row["id"] for row in current("taxonomy", columns="id")] == [taxonomy.id] and current("tag") == []
    out = StringIO()
    call_command("flush_clickhouse_outbox", "--list-failed", stdout=out)
    assert f"tag\t{tag.id}" in out.getvalue() and "Int32" in out.getvalue()
    call_command("flush_clickhouse_outbox", "--retry-failed", stdout=StringIO())
    assert OutboxEntry.objects.filter(failed=True).count() == 1  # still refused: kept, never dropped


def test_a_change_committed_while_a_flush_builds_rides_along_in_its_insert(settings, clickhouse, monkeypatch):
    """Otherwise it would wait a whole flush interval for the next insert."""
    enable_all(settings)
    ada, bob = make_user("catchup-ada"), make_user("catchup-bob")
    UserProfile.objects.filter(user=ada).update(city="Lagos")  # as a receiver records it:
    OutboxEntry.objects.create(sink="user_profile", object_key=str(ada.profile.id))
    sink, injected = get_sink("user_profile"), []
    real_load = sink.load

    def load_while_another_change_commits(keys):
        if not injected:  # a learner saves their profile while the flusher reads ada's
            injected.append(bob)
            UserProfile.objects.filter(user=bob).update(city="Accra")
            OutboxEntry.objects.create(sink="user_profile", object_key=str(bob.profile.id))
        return real_load(keys)

    monkeypatch.setattr(sink, "load", load_while_another_change_commits)
    result = flush()
    assert injected and result.delivered == 2 and result.inserts == 1 and not OutboxEntry.objects.exists()
    rows = current("user_profile", "user_id IN {ids:Array(Int64)}", {"ids": [ada.id, bob.id]},
                   columns="user_id, city, dump_id, version", order="user_id")
    assert [row["city"] for row in rows] == ["Lagos", "Accra"]
    assert rows[0]["dump_id"] == rows[1]["dump_id"]  # one insert
    assert rows[1]["version"] > rows[0]["version"]  # bob's state was read later: a later version


def test_receiver_insert_writes_what_the_orm_would(settings):
    """The receiver's hand-composed INSERT stores the same row OutboxEntry.objects.create would."""
    enable_all(settings)
    from platform_plugin_aspects.delivery.outbox import insert_entry  # pylint: disable=import-outside-toplevel

    payload = {"course_key": "course-v1:Ørg+Ünï+2026", "user_id": 7, "nested": [1, None, "\"quoted\"\n"]}
    with transaction.atomic():
        insert_entry("course_overviews", "course-v1:Ørg+Ünï+2026", OutboxEntry.DELETE, payload)
        insert_entry("user_profile", "42", OutboxEntry.UPSERT, None)
        reference = OutboxEntry.objects.create(sink="user_profile", object_key="43")
    deleted, upserted = OutboxEntry.objects.exclude(pk=reference.pk).order_by("id")
    assert (deleted.sink, deleted.object_key, deleted.action, deleted.payload) == \
        ("course_overviews", "course-v1:Ørg+Ünï+2026", OutboxEntry.DELETE, payload)
    assert (upserted.payload, upserted.attempts, upserted.failed, upserted.last_error) == (None, 0, False, "")
    assert upserted.created.tzinfo is not None and abs(upserted.created - reference.created).total_seconds() < 5
    assert upserted.next_attempt_at <= reference.next_attempt_at  # due at once, like an ORM-created entry


def test_a_flush_waiting_for_its_insert_slot_takes_changes_committed_until_then(settings, clickhouse):
    """The insert is held to its slot (one per interval), and what commits meanwhile goes in it."""
    enable_all(settings)
    ada, bob = make_user("slot-ada"), make_user("slot-bob")
    OutboxEntry.objects.all().delete()
    UserProfile.objects.filter(user=ada).update(city="Lagos")
    first = OutboxEntry.objects.create(sink="user_profile", object_key=str(ada.profile.id))

    def another_request():  # commits in its own connection once the flush holds ada's change
        wait_for(lambda: is_claimed(first))
        with transaction.atomic():
            UserProfile.objects.filter(user=bob).update(city="Accra")
            OutboxEntry.objects.create(sink="user_profile", object_key=str(bob.profile.id))
        connections.close_all()

    request = threading.Thread(target=another_request)
    slot = time.time() + 0.4
    request.start()
    result = flush(insert_not_before=slot)
    request.join()
    assert result.delivered == 2 and result.inserts == 1 and not OutboxEntry.objects.exists()
    rows = current("user_profile", "user_id IN {ids:Array(Int64)}", {"ids": [ada.id, bob.id]},
                   columns="user_id, city, dump_id, time_last_dumped", order="user_id")
    assert [row["city"] for row in rows] == ["Lagos", "Accra"]
    assert rows[0]["dump_id"] == rows[1]["dump_id"]  # one insert...
    assert datetime.fromisoformat(rows[0]["time_last_dumped"]).timestamp() >= slot  # ...sent in its slot, not before


def test_a_real_worker_keeps_inserts_one_interval_apart_under_steady_changes(settings, clickhouse):
    """At most one insert per table per ASPECTS_MIN_FLUSH_INTERVAL_SECS, and every change arrives."""
    enable_all(settings)
    settings.ASPECTS_MIN_FLUSH_INTERVAL_SECS = interval = 0.5
    clickhouse.command("TRUNCATE TABLE course_enrollment")
    users = [make_user(f"steady{i}") for i in range(60)]
    with real_worker():
        delivered = enroll_steadily(users, first_alone=True)
    assert delivered
    gaps = gaps_between_inserts(clickhouse, "course_enrollment")
    assert len(gaps) >= 2 and min(gaps) >= interval - 0.001, gaps  # batched, and never closer than the interval


def test_the_loop_command_delivers_without_celery_on_the_same_cadence(settings, clickhouse):
    """``flush_clickhouse_outbox --loop`` is a delivery worker of its own: same cadence, clean stop."""
    enable_all(settings)
    interval = 0.5
    clickhouse.command("TRUNCATE TABLE course_enrollment")
    users = [make_user(f"looped{i}") for i in range(40)]
    settings.CELERY_TASK_ALWAYS_EAGER = False  # no flush from this process: only the loop delivers
    loop = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "manage.py", "flush_clickhouse_outbox", "--loop", "--interval", "0.05"],
        cwd=Path(__file__).resolve().parents[1], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**subprocess_env(), "ASPECTS_MIN_FLUSH_INTERVAL_SECS": str(interval)})
    try:
        with no_flush_from_this_process():
            delivered = enroll_steadily(users, first_alone=True)
    finally:
        loop.send_signal(signal.SIGTERM)
        output, _ = loop.communicate(timeout=30)
    assert delivered, output
    assert loop.returncode == 0 and "at most one insert per table every 0.5s" in output, output
    gaps = gaps_between_inserts(clickhouse, "course_enrollment")
    assert len(gaps) >= 1 and min(gaps) >= interval - 0.001, gaps


def test_a_change_that_commits_after_a_newer_one_still_joins_the_waiting_flush(settings, clickhouse):
    """Ids are handed out at INSERT, not at commit: a later-committing lower id must not be skipped."""
    enable_all(settings)
    ada, bob, carol = make_user("order-ada"), make_user("order-bob"), make_user("order-carol")
    OutboxEntry.objects.all().delete()
    OutboxEntry.objects.create(sink="user_profile", object_key=str(ada.profile.id))
    inserted, commit_now = threading.Event(), threading.Event()

    def slow_request():  # takes its outbox id first, commits last
        with transaction.atomic():
            UserProfile.objects.filter(user=bob).update(city="Kano")
            OutboxEntry.objects.create(sink="user_profile", object_key=str(bob.profile.id))
            inserted.set()
            commit_now.wait(10)
        connections.close_all()

    slow = threading.Thread(target=slow_request)
    slow.start()
    inserted.wait(10)
    newer = OutboxEntry.objects.create(sink="user_profile", object_key=str(carol.profile.id))  # committed now

    def commit_once_the_newer_one_is_claimed():
        wait_for(lambda: is_claimed(newer))
        commit_now.set()
        connections.close_all()

    watcher = threading.Thread(target=commit_once_the_newer_one_is_claimed)
    watcher.start()
    result = flush(insert_not_before=time.time() + 0.6)
    watcher.join()
    slow.join()
    assert result.inserts == 1 and result.delivered == 3 and not OutboxEntry.objects.exists()
    rows = current("user_profile", "user_id IN {ids:Array(Int64)}", {"ids": [ada.id, bob.id, carol.id]},
                   columns="user_id, city, dump_id", order="user_id")
    assert [row["city"] for row in rows][1] == "Kano" and len({row["dump_id"] for row in rows}) == 1


def test_two_deliverers_that_both_find_it_is_time_do_not_both_insert(settings):
    """The insert slot is owned by one flush at a time, across workers sharing the cache."""
    from platform_plugin_aspects.delivery.cadence import Cadence  # pylint: disable=import-outside-toplevel

    cache.clear()
    settings.ASPECTS_MIN_FLUSH_INTERVAL_SECS = 1.0
    first, second = Cadence(), Cadence()
    assert first.seconds_until_start() <= 0 and second.seconds_until_start() <= 0  # both read before either took it
    assert first.take_slot() is True and second.take_slot() is False
    assert Cadence().seconds_until_start() > 0.5  # everyone else now aims at the slot after
    first.record(FlushResult(inserts=1, inserted_at=time.time(), ready_secs=0.1))
    first.release()
    later = Cadence()
    assert 0.5 < later.seconds_until_start() <= 1.0  # the next slot is an interval after the insert, minus the lead
    assert Cadence(interval=0).take_slot() is True  # no cadence (eager tasks, tests): never blocked


def test_worker_processes_sharing_a_cache_keep_one_insert_per_interval(settings, clickhouse):
    """Two prefork processes take flush tasks in turn; the slot in the shared cache keeps them apart."""
    enable_all(settings)
    settings.ASPECTS_MIN_FLUSH_INTERVAL_SECS = interval = 0.5
    settings.ASPECTS_FLUSH_DELAY_SECS = 0.02  # many tasks, so both processes get some
    clickhouse.command("TRUNCATE TABLE course_enrollment")
    users = [make_user(f"shared{i}") for i in range(60)]
    # With a per-process cache instead, each process keeps its own schedule and inserts collide.
    with shared_cache() as cache_env, real_worker(processes=2, env=cache_env):
        delivered = enroll_steadily(users, first_alone=True)
    assert delivered
    gaps = gaps_between_inserts(clickhouse, "course_enrollment")
    assert len(gaps) >= 2 and min(gaps) >= interval - 0.001, gaps
