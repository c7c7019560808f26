"""
Tracking-log events against the real local ClickHouse: the live backend (batching, outage, spool,
fork), the log loader (bad lines, dedup, resume, rotation) and the example joined views.
"""

import gzip
import json
import os
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from io import StringIO
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from platform_plugin_aspects.clickhouse import ClickHouseQueryError, get_clickhouse
from platform_plugin_aspects.clickhouse.migrate import MigrationRunner
from platform_plugin_aspects.settings import common as plugin_common
from platform_plugin_aspects.tracking.backend import ClickHouseTrackingBackend
from platform_plugin_aspects.tracking.events import serialize
from platform_plugin_aspects.tracking.spool import Spool
from platform_plugin_aspects.tracking.store import is_server_error

from .clickhouse_server import start_local_server
from .tracking_factory import activity, block_key, log_line, make_event

COURSE = "course-v1:Org+CS101+2026"


def wait_until(predicate, timeout=15.0, what="condition"):
    """Poll ``predicate`` until it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        pause.wait(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def count(clickhouse, where="1", table="tracking_events", params=None):
    return clickhouse.query(f"SELECT count() FROM {table} FINAL WHERE {where}", params)[0][0]


def expected_ids(lines_or_events):
    """The event ids of log lines (or live event dicts), as the loader and the backend compute them."""
    from platform_plugin_aspects.tracking.events import event_id, json_part, loads  # pylint: disable=import-outside-toplevel

    texts = [serialize(item) if isinstance(item, dict) else json_part(item.rstrip("\n")) for item in lines_or_events]
    return sorted(str(event_id(loads(text))) for text in texts)


def current_ids(clickhouse, table="tracking_events"):
    """Event ids as a query with FINAL sees them (a sorted list: a second copy would show)."""
    return sorted(str(event_id) for (event_id,) in clickhouse.query(f"SELECT event_id FROM {table} FINAL"))


def physical(clickhouse, table="tracking_events"):
    """Rows actually stored, every copy counted (no FINAL)."""
    return clickhouse.query(f"SELECT count() FROM {table}")[0][0]


@pytest.fixture
def enabled(settings):
    settings.EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED = True
    return settings


@pytest.fixture
def backend(clickhouse, enabled, tmp_path):
    backend = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05)
    yield backend
    backend.close()


# -- live backend ----------------------------------------------------------------------------------
def test_live_events_are_stored_with_their_values(clickhouse, backend, settings):
    settings.ASPECTS_ENABLE_PII = True  # as sent (tests/test_privacy.py covers the de-identified rows)
    when = datetime(2026, 11, 24, 9, 30, 15, 123456, tzinfo=timezone.utc)
    problem = block_key(COURSE, "problem", "p1")
    event = make_event("problem_check", user_id=42, username="zoë_学生", time=when, block=problem,
                       payload={"problem_id": problem, "answers": {"q": "naïve ✓"}, "grade": 1})
    backend.send(event)
    backend.send(make_event("play_video", payload=json.dumps({"id": "abc", "currentTime": 3.5})))
    wait_until(lambda: count(clickhouse) == 2, what="2 live events")

    row = clickhouse.query_dicts("SELECT * FROM tracking_events FINAL WHERE name = 'problem_check'")[0]
    assert row["time"].replace(tzinfo=timezone.utc) == when  # microseconds kept
    assert (row["user_id"], row["username"], row["course_key"], row["org"]) == (42, "zoë_学生", COURSE, "Org")
    assert row["block_id"] == problem
    assert row["event_source"] == "server" and row["loaded_from"] == "live"
    assert json.loads(row["event"])["answers"] == {"q": "naïve ✓"}
    assert json.loads(row["context"])["module"]["usage_key"] == problem
    video = clickhouse.query_dicts("SELECT * FROM tracking_events FINAL WHERE name = 'play_video'")[0]
    assert json.loads(video["event"]) == {"id": "abc", "currentTime": 3.5}
    assert video["page"].startswith("https://lms.example.com/courses/")


def test_events_without_user_or_course_are_stored(clickhouse, backend):
    backend.send(make_event("edx.bi.user.account.registered", user_id=None, username="", course_key=""))
    wait_until(lambda: count(clickhouse) == 1, what="anonymous event")
    assert clickhouse.query("SELECT user_id, course_key, org FROM tracking_events FINAL") == [(None, "", "")]


def test_disabled_backend_sends_nothing(clickhouse, settings, tmp_path):
    settings.EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED = False
    backend = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05)
    backend.send(make_event())
    assert backend.flush() and backend.sender.stats["stored"] == 0
    backend.close()
    assert count(clickhouse) == 0


@pytest.mark.django_db
def test_waffle_flag_enables_the_backend(clickhouse, settings, tmp_path):
    from waffle.models import Flag  # pylint: disable=import-outside-toplevel

    settings.EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED = False
    Flag.objects.create(name="event_sink_clickhouse.tracking_events.enabled", everyone=True)
    backend = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05)
    backend.send(make_event())
    wait_until(lambda: count(clickhouse) == 1, what="flag-enabled event")
    backend.close()


def test_batches_not_drips(clickhouse, enabled, tmp_path):
    backend = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.2,
                                        batch_size=1000)
    for event in activity(COURSE, [(i, f"u{i}") for i in range(1, 101)], per_learner=25):
        backend.send(event)
    wait_until(lambda: count(clickhouse) == 2500, what="2500 events")
    backend.close()
    # A handful of inserts for 2500 events: by size (1000) or by time (0.2 s), never one per event.
    parts = clickhouse.query("SELECT uniqExact(received_at) FROM tracking_events")[0][0]
    assert parts <= 10


def test_outage_loses_nothing_and_stores_each_event_once(enabled, tmp_path):
    """Stop a dedicated server, keep sending (memory, then disk), restart: every event, once."""
    server, url = start_local_server(tmp_path / "outage-clickhouse")
    try:
        target = {"url": url, "database": "tracking_outage"}
        MigrationRunner(get_clickhouse(target)).run()
        backend = ClickHouseTrackingBackend(
            spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05, buffer_events=50, batch_size=100,
            retry_max_secs=0.5, clickhouse=target,
        )
        events = activity(COURSE, [(i, f"learner{i}") for i in range(1, 21)], per_learner=10)
        for event in events[:50]:
            backend.send(event)
        outage_db = get_clickhouse(target)
        wait_until(lambda: count(outage_db) == 50, what="events before the outage")

        server.stop()
        for event in events[50:]:
            backend.send(event)
        # Past the 50-event memory buffer the rest waits on disk.
        wait_until(lambda: backend.sender.spool.count_events() >= 100, what="events spooled to disk")
        assert backend.sender.stats["failures"] >= 1 or backend.sender.stats["spooled"] >= 100

        server.start()
        wait_until(lambda: count(outage_db) == len(events), timeout=30, what="all events after restart")
        # Each event once, and with its values: the ids and users ClickHouse has are those sent.
        assert current_ids(outage_db) == expected_ids(events)
        assert sorted(outage_db.query("SELECT user_id FROM tracking_events FINAL")) == \
            sorted((event["context"]["user_id"],) for event in events)
        wait_until(lambda: backend.sender.spool.count_events() == 0, what="the spool emptied")
        backend.close()
    finally:
        server.stop()


def test_spool_left_by_a_dead_process_is_delivered(clickhouse, enabled, tmp_path):
    spool_dir = tmp_path / "spool"
    spool_dir.mkdir()
    dead_pid = 4_000_000  # above pid_max: never a running process
    events = [make_event(user_id=i, username=f"u{i}") for i in range(1, 6)]
    (spool_dir / f"{dead_pid}-1-000000.part").write_text("".join(serialize(e) + "\n" for e in events[:3]))
    (spool_dir / f"{dead_pid}-2-000001.jsonl.sending-{dead_pid}").write_text(
        "".join(serialize(e) + "\n" for e in events[3:]))
    backend = ClickHouseTrackingBackend(spool_dir=str(spool_dir), flush_interval_secs=0.05)
    backend.send(make_event(user_id=99))
    wait_until(lambda: count(clickhouse) == 6, what="spooled events of a dead process")
    backend.close()
    assert not list(spool_dir.iterdir())


def test_shutdown_with_clickhouse_down_keeps_events_on_disk(enabled, tmp_path):
    target = {"url": "http://127.0.0.1:9", "database": "nowhere"}  # nothing listens on port 9
    backend = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05,
                                        clickhouse=target, retry_max_secs=60)
    for i in range(25):
        backend.send(make_event(user_id=i))
    backend.close()
    assert Spool(tmp_path / "spool").count_events() == 25


def test_forked_child_sends_its_own_events(clickhouse, backend):
    """gunicorn/Celery prefork: the child restarts the sender thread and delivers its events."""
    backend.send(make_event(user_id=1))
    wait_until(lambda: count(clickhouse) == 1, what="parent event")
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        ok = False
        try:
            backend.send(make_event(user_id=2, username="child"))
            ok = backend.flush(10) and backend.sender.stats["stored"] == 1
        finally:
            os._exit(0 if ok else 1)  # pylint: disable=protected-access
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert clickhouse.query("SELECT user_id FROM tracking_events FINAL ORDER BY user_id") == [(1,), (2,)]


def test_unstorable_value_is_rejected_without_poisoning_the_batch(clickhouse, backend):
    backend.send(make_event(user_id=1))
    backend.send(make_event(user_id=2, payload={"answer": "bad\udcff"}))  # a lone surrogate cannot be UTF-8
    backend.send(make_event(user_id=3))
    wait_until(lambda: count(clickhouse, table="tracking_rejects") == 1, what="the reject")
    assert count(clickhouse) == 2
    reason, raw = clickhouse.query("SELECT reason, raw FROM tracking_rejects FINAL")[0]
    assert "ClickHouse refused" in reason and '"user_id":2' in raw.replace(" ", "")


# -- loader ----------------------------------------------------------------------------------------
def write_log(path, lines, compress=False):
    data = "".join(lines).encode() if isinstance(lines[0], str) else b"".join(lines)
    if compress:
        with gzip.open(path, "wb") as out:
            out.write(data)
    else:
        path.write_bytes(data)
    return path


def load(*paths, **options):
    call_command("load_tracking_log", *[str(p) for p in paths], no_progress=True, **options)


def test_loader_stores_every_good_line_and_rejects_bad_ones_with_reasons(clickhouse, tmp_path):
    big = make_event("problem_check", user_id=5, payload={"state": "x" * (5 * 1024 * 1024)})
    no_time = make_event(user_id=6)
    del no_time["time"]
    lines = [
        log_line(make_event(user_id=1)).encode(),
        log_line(make_event(user_id=2), prefixed=True).encode(),
        b'{"name": "broken", "time": \n',
        "{\"name\": \"latin1 \xe9\"}\n".encode("latin-1"),
        log_line(big).encode(),
        log_line(make_event("edx.bi.user.account.registered", user_id=None, username="", course_key="")).encode(),
        b"2026-11-24 10:00:00,123 INFO 7 [tracking] no json here\n",
        log_line(no_time).encode(),
        b"\n",
        log_line(make_event(user_id=3)).encode(),
    ]
    path = write_log(tmp_path / "tracking.log", lines)
    load(path)
    assert count(clickhouse) == 5
    assert clickhouse.query("SELECT user_id FROM tracking_events FINAL ORDER BY user_id") == [
        (1,), (2,), (3,), (5,), (None,)]
    stored_big = clickhouse.query("SELECT length(event) FROM tracking_events FINAL WHERE user_id = 5")[0][0]
    assert stored_big > 5 * 1024 * 1024
    rejects = clickhouse.query(
        "SELECT source_offset, reason, raw, raw_size, source_file FROM tracking_rejects FINAL ORDER BY source_offset")
    offsets = [sum(len(line) for line in lines[:i]) for i in (2, 3, 6, 7)]
    assert [r[0] for r in rejects] == offsets
    assert [r[1].split(":")[0] for r in rejects] == [
        "malformed JSON", "not UTF-8", "no JSON object on the line", "no time"]
    assert rejects[1][2] == '{"name": "latin1 \\xe9"}'  # the bad byte, kept readable
    assert all(r[4] == "tracking.log" for r in rejects)


def test_too_large_event_is_rejected_with_its_size(clickhouse, settings, tmp_path):
    settings.ASPECTS_TRACKING_MAX_EVENT_BYTES = 100_000
    line = log_line(make_event(payload={"state": "y" * 200_000}))
    load(write_log(tmp_path / "tracking.log", [line]))
    reason, raw, size = clickhouse.query("SELECT reason, raw, raw_size FROM tracking_rejects FINAL")[0]
    assert reason.startswith("event too large") and len(raw) == 64 * 1024 and size == len(line) - 1
    assert count(clickhouse) == 0


def test_loading_twice_and_live_overlap_store_each_event_once(clickhouse, backend, tmp_path):
    events = activity(COURSE, [(1, "ada"), (2, "bob")], per_learner=30)
    backend.send(events[0])  # also arrived live
    wait_until(lambda: count(clickhouse) == 1, what="live event")
    plain = write_log(tmp_path / "tracking.log.1", [log_line(e, prefixed=True) for e in events[:40]])
    zipped = write_log(tmp_path / "tracking.log.2.gz", [log_line(e) for e in events[40:]], compress=True)
    load(str(tmp_path / "tracking.log*"))
    load(plain, zipped, restart=True)  # read everything again
    # The live copy and both loads of each line fold into one event: 60 ids, none twice.
    assert current_ids(clickhouse) == expected_ids([log_line(e) for e in events])
    assert count(clickhouse, "loaded_from = 'tracking.log.2.gz'") == 20


@pytest.mark.parametrize("workers", [0, 2])
def test_interrupted_load_resumes_from_the_checkpoint(clickhouse, tmp_path, workers):
    events = activity(COURSE, [(i, f"u{i}") for i in range(1, 11)], per_learner=10)
    path = write_log(tmp_path / "tracking.log", [log_line(e) for e in events])
    load(path, max_events=30, batch_size=7, workers=workers)
    first = count(clickhouse)
    assert 0 < first < 100
    load(path, batch_size=7, workers=workers)
    assert physical(clickhouse) == 100  # resumed after its checkpoint: nothing stored twice
    assert current_ids(clickhouse) == expected_ids([log_line(e) for e in events])


def test_killed_load_resumes(clickhouse, tmp_path):
    """A real interruption: kill the command's process mid-load, then run it again."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    events = activity(COURSE, [(i, f"u{i}") for i in range(1, 201)], per_learner=100)
    path = write_log(tmp_path / "tracking.log", [log_line(e) for e in events])
    command = [sys.executable, "manage.py", "load_tracking_log", str(path), "--batch-size", "100", "--no-progress"]
    cwd = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) as process:
        wait_until(lambda: count(clickhouse) >= 300 or process.poll() is not None, timeout=60, what="load started")
        process.kill()
    assert process.returncode == -9, "the load finished before it could be interrupted"
    assert count(clickhouse) < 20_000
    load(path)
    assert current_ids(clickhouse) == expected_ids([log_line(e) for e in events])


def test_rotated_file_resumes_after_gzip(clickhouse, tmp_path):
    events = activity(COURSE, [(1, "ada")], per_learner=40)
    lines = [log_line(e) for e in events]
    live = write_log(tmp_path / "tracking.log", lines[:25])
    load(live)
    live.unlink()  # logrotate: the same content, grown and compressed
    write_log(tmp_path / "tracking.log.1.gz", lines, compress=True)
    load(tmp_path / "tracking.log.1.gz")
    assert physical(clickhouse) == 40  # the rotated file resumed where the plain one stopped
    assert current_ids(clickhouse) == expected_ids(lines)


def test_partial_last_line_waits_for_the_next_run(clickhouse, tmp_path):
    first, second = log_line(make_event(user_id=1)), log_line(make_event(user_id=2))
    path = write_log(tmp_path / "tracking.log", [first, second[:20]])
    load(path)
    assert count(clickhouse) == 1 and count(clickhouse, table="tracking_rejects") == 0
    path.write_text(first + second)
    load(path)
    assert count(clickhouse) == 2


def test_command_errors_are_clear(clickhouse, tmp_path):
    with pytest.raises(CommandError, match="no file matches"):
        load(tmp_path / "missing*.log")
    with pytest.raises(CommandError, match="at least one"):
        call_command("load_tracking_log")


def test_apply_ttl(clickhouse, settings):
    settings.ASPECTS_TRACKING_TTL_DAYS = 365
    call_command("load_tracking_log", apply_ttl=True)
    ddl = clickhouse.query("SHOW CREATE TABLE tracking_events")[0][0]
    assert "TTL toDateTime(time) + toIntervalDay(365)" in ddl
    settings.ASPECTS_TRACKING_TTL_DAYS = None
    call_command("load_tracking_log", apply_ttl=True)
    assert "TTL" not in clickhouse.query("SHOW CREATE TABLE tracking_events")[0][0]


def ttl_clause(clickhouse):
    ddl = clickhouse.query("SHOW CREATE TABLE tracking_events")[0][0]
    return ddl[ddl.index("TTL"):].split("\n")[0] if "TTL" in ddl else ""


def test_migrate_clickhouse_keeps_the_ttl_in_line_with_the_setting(clickhouse, settings):
    """Operators set ASPECTS_TRACKING_TTL_DAYS and deploy; the table follows, and only when it changed."""
    def migrate(*args):
        out = StringIO()
        call_command("migrate_clickhouse", *args, stdout=out)
        return out.getvalue()

    settings.ASPECTS_TRACKING_TTL_DAYS = 90
    assert "ALTER TABLE" in migrate("--dry-run") and ttl_clause(clickhouse) == ""  # a dry run changes nothing
    assert "older than 90 days will be deleted" in migrate()
    assert ttl_clause(clickhouse) == "TTL toDateTime(time) + toIntervalDay(90)"
    assert "(unchanged)" in migrate() and "ALTER TABLE" not in migrate("--dry-run")
    settings.ASPECTS_TRACKING_TTL_DAYS = 30
    assert "30 days will be deleted" in migrate() and ttl_clause(clickhouse).endswith("toIntervalDay(30)")
    settings.ASPECTS_TRACKING_TTL_DAYS = None
    assert "TTL removed" in migrate() and ttl_clause(clickhouse) == ""
    # An operator's own TTL (not of our form) survives deploys while the setting is off.
    clickhouse.command(f"ALTER TABLE {clickhouse.qualified('tracking_events')} MODIFY TTL toDateTime(time) + "
                       "INTERVAL 2 YEAR")
    assert "keeps its own TTL" in migrate() and "toIntervalYear(2)" in ttl_clause(clickhouse)
    clickhouse.command(f"ALTER TABLE {clickhouse.qualified('tracking_events')} REMOVE TTL")


# -- joined views ----------------------------------------------------------------------------------
def seed_state(clickhouse):
    """Two enrolled learners (audit/verified) with grades and profiles; a third never enrolled."""
    def base(version):
        return [uuid.uuid4(), "2026-11-24 00:00:00.000000+00:00", version, 0]

    clickhouse.insert("course_enrollment", [
        [1, COURSE, "2026-09-01", True, "audit", "ada", 1, *base(1)],
        [2, COURSE, "2026-09-02", True, "verified", "bob", 2, *base(1)],
        [2, COURSE, "2026-09-02", True, "honor", "bob", 2, *base(0)],  # an older version: FINAL hides it
    ], ["id", "course_key", "created", "is_active", "mode", "username", "user_id",
        "dump_id", "time_last_dumped", "version", "is_deleted"])
    clickhouse.insert("course_grades", [
        [1, 1, COURSE, "Org", "v1", "h", 0.45, "", False, "", "", "", *base(1)],
        [2, 2, COURSE, "Org", "v1", "h", 0.91, "A", True, "2026-11-01", "", "", *base(1)],
    ], ["id", "user_id", "course_key", "org", "course_version", "grading_policy_hash", "percent_grade",
        "letter_grade", "is_passing", "passed_timestamp", "created", "modified",
        "dump_id", "time_last_dumped", "version", "is_deleted"])
    clickhouse.insert("user_profile", [
        [1, 1, "Ada", "ada", "", "FR", *base(1)],
        [2, 2, "Bob", "bob", "", "BR", *base(1)],
    ], ["id", "user_id", "name", "username", "email", "country", "dump_id", "time_last_dumped", "version",
        "is_deleted"])


def test_example_queries_join_events_with_enrollments_grades_and_profiles(clickhouse, tmp_path):
    seed_state(clickhouse)
    now = datetime.now(timezone.utc)
    video = block_key(COURSE, "video", "v1")
    events = [
        make_event("play_video", user_id=1, username="ada", time=now - timedelta(hours=1),
                   payload=json.dumps({"id": video})),
        make_event("problem_check", user_id=2, username="bob", time=now - timedelta(hours=2)),
        make_event("play_video", user_id=2, username="bob", time=now - timedelta(days=3)),
        make_event("play_video", user_id=3, username="eve", time=now - timedelta(hours=3)),
    ]
    load(write_log(tmp_path / "tracking.log", [log_line(e) for e in events]))

    visited_recently = clickhouse.query(
        "SELECT user_id, any(percent_grade), any(country) FROM tracking_events_enriched "
        "WHERE time > now() - INTERVAL 1 DAY AND course_key = {c:String} AND enrollment_mode IS NOT NULL "
        "GROUP BY user_id ORDER BY user_id", {"c": COURSE})
    assert visited_recently == [(1, 0.45, "FR"), (2, 0.91, "BR")]

    per_day = clickhouse.query(
        "SELECT day, active_learners, events FROM tracking_daily_activity WHERE course_key = {c:String} "
        "ORDER BY day", {"c": COURSE})
    assert sum(r[2] for r in per_day) == 4 and per_day[0][1] == 1

    video_modes = clickhouse.query(
        "SELECT enrollment_mode, uniqExact(user_id) FROM tracking_events_enriched "
        "WHERE name IN ('play_video', 'edx.video.played') GROUP BY enrollment_mode ORDER BY enrollment_mode")
    assert video_modes == [("audit", 1), ("verified", 1), (None, 1)]  # None: watched without an enrollment


# -- settings hook ---------------------------------------------------------------------------------
def test_settings_hook_puts_the_backend_beside_the_tracking_logger():
    routing = "eventtracking.backends.routing.RoutingBackend"
    lms = SimpleNamespace(EVENT_TRACKING_BACKENDS={
        "tracking_logs": {"ENGINE": routing, "OPTIONS": {"backends": {"logger": {"ENGINE": "LoggerBackend"}}}},
    })
    plugin_common.plugin_settings(lms)
    nested = lms.EVENT_TRACKING_BACKENDS["tracking_logs"]["OPTIONS"]["backends"]
    assert nested["aspects_clickhouse"]["ENGINE"] == plugin_common.TRACKING_BACKEND_ENGINE
    assert lms.EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED is False

    other = SimpleNamespace(EVENT_TRACKING_BACKENDS={})
    plugin_common.plugin_settings(other)
    assert "aspects_clickhouse" in other.EVENT_TRACKING_BACKENDS


# -- demo ------------------------------------------------------------------------------------------
def test_tracking_demo_reports_joined_activity(clickhouse, tmp_path):
    from io import StringIO  # pylint: disable=import-outside-toplevel

    from .lms.demo.tracking_demo import run_tracking_demo  # pylint: disable=import-outside-toplevel

    seed_state(clickhouse)
    out = StringIO()
    sent = run_tracking_demo(out, COURSE, [(1, "ada"), (2, "bob"), (3, "eve")], events_per_learner=10,
                             spool_dir=str(tmp_path / "spool"))
    report = out.getvalue()
    assert sent == 30 and count(clickhouse) == 30
    assert "all queryable" in report and "events per type" in report
    assert "audit" in report and "verified" in report and "(no enrollment in ClickHouse)" in report


def test_json_that_only_python_accepts_is_stored_with_a_stable_id(clickhouse, tmp_path):
    """NaN and integers beyond 64 bits: stored, and once on re-load (the big integer as a double)."""
    lines = [
        log_line(make_event(user_id=1, payload={"score": float("nan")})),
        log_line(make_event(user_id=2, payload={"big": 2**70})),
    ]
    path = write_log(tmp_path / "tracking.log", lines)
    load(path)
    load(path, restart=True)
    assert current_ids(clickhouse) == expected_ids(lines)
    stored = clickhouse.query("SELECT event FROM tracking_events FINAL WHERE user_id = 2")[0][0]
    assert json.loads(stored)["big"] == float(2**70)


def test_events_sent_after_close_wait_in_the_spool(clickhouse, backend, tmp_path):
    backend.close()
    backend.send(make_event(user_id=1))
    backend.sender.spool.seal()
    assert Spool(tmp_path / "spool").count_events() == 1
    later = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05)
    later.send(make_event(user_id=2))
    wait_until(lambda: count(clickhouse) == 2, what="the spooled event delivered by the next backend")
    later.close()


def test_events_buffered_at_exit_are_delivered(clickhouse, tmp_path):
    """A worker process that exits normally right after sending: the atexit hook delivers."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    script = (
        "import django; django.setup()\n"
        "from django.conf import settings\n"
        "settings.EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED = True\n"
        "from platform_plugin_aspects.tracking.backend import ClickHouseTrackingBackend\n"
        "from tests.tracking_factory import make_event\n"
        f"backend = ClickHouseTrackingBackend(spool_dir={str(tmp_path / 'spool')!r}, flush_interval_secs=60)\n"
        "for i in range(50):\n"
        "    backend.send(make_event(user_id=i))\n"
    )
    cwd = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "test_settings"}
    subprocess.run([sys.executable, "-c", script], cwd=cwd, env=env, check=True, timeout=60)
    assert count(clickhouse) == 50


def test_missing_table_keeps_events_waiting_instead_of_rejecting_them(clickhouse, enabled, tmp_path):
    """Sending before `migrate_clickhouse` ran: events wait on disk; they are not bad data."""
    backend = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05,
                                        clickhouse={"database": "default"}, retry_max_secs=60)
    for i in range(10):
        backend.send(make_event(user_id=i))
    wait_until(lambda: backend.sender.stats["failures"] >= 1, what="a failed delivery")
    backend.close()
    assert Spool(tmp_path / "spool").count_events() == 10
    assert count(clickhouse, table="tracking_rejects") == 0


def test_a_user_who_may_not_change_insert_settings_still_gets_every_event_in(clickhouse, enabled, tmp_path):
    """
    Events are inserted with optimize_on_insert = 0, a saving only: a ClickHouse user whose
    profile locks that setting (as managed services may) still stores every event, none rejected.
    """
    backend = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05,
                                        clickhouse={"username": "ch_locked", "password": "locked"})
    for i in range(10):
        backend.send(make_event(user_id=i))
    wait_until(lambda: count(clickhouse) == 10, what="the events stored as ch_locked")
    backend.close()
    assert count(clickhouse, table="tracking_rejects") == 0
    assert Spool(tmp_path / "spool").count_events() == 0


def test_a_setting_the_server_refuses_keeps_the_batch_instead_of_rejecting_it(clickhouse):
    """A refusal about a setting (452: outside the user's constraints) says nothing about the rows."""
    locked = get_clickhouse({"username": "ch_locked", "password": "locked"})
    with pytest.raises(ClickHouseQueryError) as refused:
        locked.command(f"INSERT INTO {locked.qualified('tracking_rejects')} (reason) "
                       "SETTINGS optimize_on_insert = 0 VALUES ('x')")
    assert refused.value.code == 452
    assert is_server_error(refused.value)


def test_send_never_raises_into_the_request(clickhouse, backend, caplog):
    circular = make_event(user_id=1)
    circular["event"] = {"self": circular}
    backend.send(circular)  # cannot be JSON: logged loudly, the request goes on
    backend.send(make_event(user_id=2))
    wait_until(lambda: count(clickhouse) == 1, what="the good event")
    assert "cannot be written as JSON" in caplog.text


# -- a bug is not the data's fault -----------------------------------------------------------------
def stored_ids(clickhouse):
    """The event ids ClickHouse currently has, as strings."""
    return {str(event_id) for (event_id,) in clickhouse.query("SELECT event_id FROM tracking_events FINAL")}


def fails_for(username, monkeypatch, module):
    """Inject a bug into ``module``'s row builder for events of ``username`` (a fault we cannot cause for real)."""
    real = module.row_from_json

    def row_from_json(text, *args, **kwargs):
        if f'"{username}"' in text:
            raise AttributeError("'NoneType' object has no attribute 'get'")
        return real(text, *args, **kwargs)

    monkeypatch.setattr(module, "row_from_json", row_from_json)


@pytest.mark.django_db
def test_a_bug_keeps_live_events_retries_them_and_never_rejects_them(clickhouse, enabled, tmp_path, monkeypatch):
    from platform_plugin_aspects.tracking import store as store_module  # pylint: disable=import-outside-toplevel
    from platform_plugin_aspects.tracking.events import event_id  # pylint: disable=import-outside-toplevel

    enabled.ASPECTS_TRACKING_SPOOL_DIR = spool = str(tmp_path / "spool")
    fails_for("tripwire", monkeypatch, store_module)
    backend = ClickHouseTrackingBackend(spool_dir=spool, flush_interval_secs=0.05, retry_max_secs=0.5)
    events = [make_event(user_id=1, username="ada"), make_event(user_id=2, username="tripwire"),
              make_event(user_id=3, username="bob")]
    expected = {str(event_id(json.loads(serialize(event)))) for event in events}
    try:
        for event in events:
            backend.send(event)
        wait_until(lambda: backend.sender.stats["held"] >= 1 and count(clickhouse) == 2, what="2 stored, 1 held")
        assert count(clickhouse, table="tracking_rejects") == 0  # never a reject for our bug
        report = StringIO()
        with pytest.raises(CommandError, match="UNHEALTHY"):
            call_command("aspects_status", "--json", stdout=report)
        tracking = json.loads(report.getvalue())["tracking"]
        assert tracking["held"] == 1 and "AttributeError" in tracking["held_error"]

        monkeypatch.undo()  # the fix is deployed: the held event is retried and arrives
        # The spool file goes once the insert has landed: wait for both, not only the first.
        held = Spool(os.path.join(spool, "held"))
        wait_until(lambda: stored_ids(clickhouse) == expected and held.count_events() == 0,
                   what="the held event stored after the fix, and gone from the spool")
        assert count(clickhouse, table="tracking_rejects") == 0
    finally:
        backend.close()


def bug_while_parsing(monkeypatch):
    """Our row builder fails on one learner's events."""
    from platform_plugin_aspects.tracking import loader as loader_module  # pylint: disable=import-outside-toplevel

    fails_for("tripwire", monkeypatch, loader_module)
    return AttributeError


def bug_while_inserting(monkeypatch):
    """Our side of the insert fails (before, any such exception made every event of the batch a reject)."""
    from platform_plugin_aspects.clickhouse import ClickHouse  # pylint: disable=import-outside-toplevel

    real_insert = ClickHouse.insert

    def buggy_insert(self, table, rows, column_names):
        if table == "tracking_events":
            raise TypeError("unsupported operand type(s)")
        return real_insert(self, table, rows, column_names)

    monkeypatch.setattr(ClickHouse, "insert", buggy_insert)
    return TypeError


@pytest.mark.parametrize("inject_bug", [bug_while_parsing, bug_while_inserting])
def test_a_bug_stops_the_log_load_without_rejecting_and_the_rerun_resumes(clickhouse, tmp_path, monkeypatch,
                                                                          inject_bug):
    """Only Rejected and ClickHouse refusing a value are the data's fault: a bug rejects nothing."""
    events = activity(COURSE, [(1, "ada"), (2, "tripwire")], per_learner=5)
    lines = [log_line(e) for e in events]
    path = write_log(tmp_path / "tracking.log", lines)
    with pytest.raises(inject_bug(monkeypatch)):
        load(path, workers=0)
    assert count(clickhouse, table="tracking_rejects") == 0
    monkeypatch.undo()  # the fix is deployed
    load(path, workers=0)
    assert current_ids(clickhouse) == expected_ids(lines) and count(clickhouse, table="tracking_rejects") == 0
