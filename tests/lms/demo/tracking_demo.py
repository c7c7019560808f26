"""
The tracking part of ``aspects_demo``: learners' course activity through the live backend, then a
short report joining the events with enrollments (and grades) in ClickHouse.

The lead's demo command calls :func:`run_tracking_demo`.
"""

import threading
import time
from datetime import datetime, timezone

from django.test import override_settings

from platform_plugin_aspects.clickhouse import get_clickhouse
from platform_plugin_aspects.tracking.backend import ClickHouseTrackingBackend
from tests.tracking_factory import activity

DEMO_SESSION = "aspects-demo-session"


def _learners(users):
    """``[(user_id, username)]`` from Django users or from pairs."""
    return [(u.id, u.username) if hasattr(u, "username") else (int(u[0]), str(u[1])) for u in users]


def _wait_queryable(clickhouse, course_key, since, expected, timeout=30.0):
    """Seconds until ``expected`` demo events are queryable (they are deduplicated by event id)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        stored = clickhouse.query(
            "SELECT count() FROM tracking_events FINAL WHERE course_key = {c:String} AND time >= {t:DateTime64(6)}",
            {"c": course_key, "t": since},
        )[0][0]
        if stored >= expected:
            return time.monotonic() - started
        threading.Event().wait(0.05)
    raise RuntimeError(f"only {stored}/{expected} demo tracking events reached ClickHouse in {timeout:.0f}s")


def run_tracking_demo(stdout, course_key, users, events_per_learner=30, spool_dir=None):
    """
    Send realistic activity (videos, problems, navigation) of ``users`` in ``course_key`` through the
    live tracking backend, wait until it is queryable and write a joined report to ``stdout``.

    Re-running within the same hour adds nothing: the events (and so their ids) are the same.
    """
    learners = _learners(users)
    now = datetime.now(timezone.utc).replace(minute=59, second=59, microsecond=0)
    events = activity(course_key, learners, start=now, per_learner=events_per_learner, seed=2026)
    since = min(e["time"] for e in events)
    options = {"spool_dir": spool_dir} if spool_dir else {}
    with override_settings(EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED=True):
        backend = ClickHouseTrackingBackend(**options)
        sent_at = time.monotonic()
        for event in events:
            backend.send(event)
        backend.flush()
        backend.close()
    clickhouse = get_clickhouse()
    waited = _wait_queryable(clickhouse, course_key, since, len(events))
    stdout.write(f"Tracking events: {len(events)} sent live for {len(learners)} learners in {course_key}; "
                 f"all queryable {time.monotonic() - sent_at:.2f}s after the first send (waited {waited:.2f}s)\n")
    params = {"c": course_key, "t": since}
    stdout.write("  events per type:\n")
    for name, total, learners_count in clickhouse.query(
        "SELECT name, count(), uniqExact(user_id) FROM tracking_events FINAL "
        "WHERE course_key = {c:String} AND time >= {t:DateTime64(6)} GROUP BY name ORDER BY count() DESC",
        params,
    ):
        stdout.write(f"    {name:40} {total:>6} events  {learners_count:>4} learners\n")
    stdout.write("  active learners by enrollment mode (tracking_events_enriched):\n")
    for mode, active, watched, grade in clickhouse.query(
        "SELECT ifNull(enrollment_mode, '(no enrollment in ClickHouse)'), uniqExact(user_id), "
        "uniqExactIf(user_id, name = 'play_video'), round(avg(percent_grade), 2) FROM tracking_events_enriched "
        "WHERE course_key = {c:String} AND time >= {t:DateTime64(6)} GROUP BY 1 ORDER BY 1",
        params,
    ):
        stdout.write(f"    {mode:32} {active:>4} active  {watched:>4} watched a video  avg grade {grade}\n")
    return len(events)
