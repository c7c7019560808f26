"""
The course analytics model on the real local ClickHouse: every metric of the synthetic course in
tests/analytics_course.py equals the figure worked out by hand there, the at-risk edge cases, the
same events loaded twice, learners who are not enrolled, the block ids events carry.
"""

import dataclasses
import json
import math
import multiprocessing
import uuid
from datetime import date, timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from platform_plugin_aspects import analytics
from platform_plugin_aspects.analytics.model import refresh_kept_tables, sync_settings
from platform_plugin_aspects.clickhouse import ClickHouse
from platform_plugin_aspects.clickhouse.migrate import MIGRATIONS_DIR, Migration, MigrationRunner
from platform_plugin_aspects.tracking.backend import ClickHouseTrackingBackend
from platform_plugin_aspects.tracking.events import EVENT_COLUMNS, event_row, serialize
from platform_plugin_aspects.tracking.store import parse_texts, store

from .analytics_course import (
    AS_OF,
    COURSE,
    P1,
    P2,
    P3,
    S1,
    S1A,
    S1B,
    S2,
    S2A,
    V1,
    V2,
    _check,
    _video,
    at,
    events,
    seed_sinks,
    write_overview,
)
from .test_tracking import wait_until, write_log
from .tracking_factory import log_line, make_event


def send(clickhouse, batch):
    """Store events the way the live sender does (parse, then one insert)."""
    pairs, rejects, held = parse_texts([serialize(e) for e in batch])
    assert not rejects and not held
    store(clickhouse, pairs)


@pytest.fixture
def course(clickhouse):
    seed_sinks(clickhouse)
    send(clickhouse, events())
    return clickhouse


def by_user(records):
    return {r.user_id: r for r in records}


# -- enrollment --------------------------------------------------------------------------------------
def test_funnel(course):
    # enrolled: 7 active enrollments (dee unenrolled, zed never enrolled); active: all but hal;
    # attempted a problem: ada, bob, cid, eve; passing: bob.
    assert analytics.funnel(COURSE, AS_OF) == analytics.Funnel(enrolled=7, active=6, attempted_problem=4, passing=1)


def test_enrollment_by_mode_and_changes(course):
    assert analytics.enrollment_by_mode(COURSE) == [
        analytics.ModeCount("audit", 5, 6), analytics.ModeCount("honor", 1, 1), analytics.ModeCount("verified", 1, 1)]
    previous, this = analytics.enrollment_weeks(COURSE, AS_OF, weeks=2)
    # previous week: eve and fay enrolled, bob upgraded; this week: gus and hal (by staff) enrolled, dee left.
    assert (previous.start, previous.end) == (AS_OF - timedelta(days=13), AS_OF - timedelta(days=7))
    assert (previous.enrollments, previous.unenrollments, previous.mode_changes) == (2, 0, 1)
    assert (this.start, this.end) == (AS_OF - timedelta(days=6), AS_OF)
    assert (this.enrollments, this.unenrollments, this.mode_changes) == (2, 1, 0)
    days = analytics.enrollment_days(COURSE, AS_OF - timedelta(days=40), AS_OF)
    assert [(d.day, d.enrollments, d.unenrollments) for d in days if d.unenrollments] == [(AS_OF - timedelta(days=3),
                                                                                           0, 1)]
    assert sum(d.enrollments for d in days) == 8


# -- engagement --------------------------------------------------------------------------------------
def test_daily_and_weekly_active_learners(course):
    weeks = analytics.weekly_active_learners(COURSE, AS_OF, weeks=5)
    # oldest first: dee (30 days ago); nobody; ada, bob, gus; cid, eve; fay and ada (zed is not enrolled).
    assert [w.active_learners for w in weeks] == [1, 0, 3, 2, 2]
    assert weeks[-1].end == AS_OF and weeks[0].start == AS_OF - timedelta(days=34)
    days = analytics.daily_active_learners(COURSE, AS_OF - timedelta(days=20), AS_OF)
    assert len(days) == 21
    assert {d.day: d.active_learners for d in days if d.active_learners} == {
        at(20).date(): 2, at(15).date(): 1, at(12).date(): 1, at(7).date(): 1, at(6).date(): 1, at(1).date(): 1}


def test_learner_engagement(course):
    rows = by_user(analytics.learner_engagement(COURSE))
    assert set(rows) == {1, 2, 3, 4, 5, 6, 7}  # hal did nothing, zed is not a learner
    ada = rows[1]
    assert (ada.events, ada.active_days, ada.first_activity_at, ada.last_activity_at) == (7, 2, at(20), at(1, 60))
    assert {u: r.events for u, r in rows.items()} == {1: 7, 2: 5, 3: 3, 4: 1, 5: 4, 6: 2, 7: 1}
    assert rows[6].active_days == 2 and rows[6].last_activity_at == at(-2)  # all time, after AS_OF too
    assert [r.user_id for r in analytics.learner_engagement(COURSE, limit=2, offset=3)] == [4, 5]


def test_section_reach_in_course_order(course):
    reach = analytics.section_reach(COURSE)
    assert [(r.level, r.section_name, r.subsection_name, r.block_id, r.learners) for r in reach] == [
        ("section", "Week 1", "", S1, 5),  # ada, bob, cid, eve, fay
        ("subsection", "Week 1", "Intro", S1A, 4),  # fay (seq_goto), ada, bob, cid (p1, v1)
        ("subsection", "Week 1", "Practice", S1B, 2),  # ada, eve (p2)
        ("section", "Week 2", "", S2, 3),
        ("subsection", "Week 2", "Deep dive", S2A, 3),  # cid, eve (v2), bob (p3)
    ]


# -- problems ----------------------------------------------------------------------------------------
def test_problem_stats_in_course_order(course):
    stats = analytics.problem_stats(COURSE)
    assert [(p.problem_id, p.display_name, p.section_name, p.subsection_name) for p in stats] == [
        (P1, "Warm-up", "Week 1", "Intro"), (P2, "Hard one", "Week 1", "Practice"),
        (P3, "Final check", "Week 2", "Deep dive")]
    p1, p2, p3 = stats
    assert (p1.learners, p1.attempts, p1.solved_learners) == (3, 4, 2)
    assert p1.first_attempt_success_rate == pytest.approx(1 / 3)
    assert p1.average_score == pytest.approx((1 + 1 + 0.5) / 3)
    assert (p2.learners, p2.attempts, p2.solved_learners, p2.first_attempt_success_rate, p2.average_score) == (
        2, 3, 0, 0, 0)
    assert (p3.learners, p3.attempts, p3.solved_learners, p3.first_attempt_success_rate, p3.average_score) == (
        1, 1, 1, 1, 1)
    assert [p.problem_id for p in analytics.hardest_problems(COURSE, 3)] == [P2, P1, P3]
    assert [p.problem_id for p in analytics.hardest_problems(COURSE, 3, min_learners=2)] == [P2, P1]


def test_learner_problems(course):
    ada = {p.problem_id: p for p in analytics.learner_problems(COURSE, user_id=1)}
    assert ada[P1] == analytics.LearnerProblem(1, P1, attempts=2, best_score=1.0, solved=True,
                                               first_attempt_correct=False, last_score=1.0)
    assert ada[P2] == analytics.LearnerProblem(1, P2, 1, 0.0, False, False, 0.0)
    everyone = analytics.learner_problems(COURSE)
    assert len(everyone) == 6 and 99 not in {p.user_id for p in everyone}


# -- videos ------------------------------------------------------------------------------------------
def test_video_stats_and_watched_segments(course):
    v1, v2 = analytics.video_stats(COURSE)
    assert (v1.video_id, v1.display_name, v1.section_name, v1.subsection_name) == (V1, "Welcome", "Week 1", "Intro")
    # ada watched [0, 50] and [40, 60] (60 s of 100), bob [0, 30] and [80, 100] after a seek (50 s)
    assert (v1.viewers, v1.plays, v1.duration, v1.completed_viewers) == (2, 3, 100, 0)
    assert v1.average_watched_share == pytest.approx(0.55) and v1.abandonment_rate == 1
    # cid watched all 200 s, eve 20 s
    assert (v2.viewers, v2.plays, v2.completed_viewers, v2.subsection_name) == (2, 2, 1, "Deep dive")
    assert v2.average_watched_share == pytest.approx(0.55) and v2.abandonment_rate == 0.5
    assert [v.video_id for v in analytics.most_abandoned_videos(COURSE, 2)] == [V1, V2]
    watched = {(v.user_id, v.video_id): v for v in analytics.learner_videos(COURSE)}
    assert set(watched) == {(1, V1), (2, V1), (3, V2), (5, V2)}
    assert watched[(1, V1)].segments == ((0, 60),) and watched[(1, V1)].watched_share == pytest.approx(0.6)
    assert watched[(2, V1)].segments == ((0, 30), (80, 100)) and watched[(2, V1)].watched_seconds == 50
    assert watched[(5, V2)].watched_share == pytest.approx(0.1)


def test_a_video_nobody_played_reads_zero_not_nan(clickhouse):
    """
    Browsers drop events: a learner whose only events of a video are a pause and a seek (the play
    lost) is no viewer of it, and the video's average share watched reads 0, not NaN (which JSON
    refuses and which equals nothing, not even itself).
    """
    seed_sinks(clickhouse)
    send(clickhouse, [_video(1, "pause_video", V1, at(3), 100, currentTime=40),
                      _video(1, "seek_video", V1, at(3, 5), 100, old_time=40, new_time=80, type="onSlideSeek")])
    [v1] = analytics.video_stats(COURSE)
    assert (v1.video_id, v1.viewers, v1.plays, v1.average_watched_share, v1.abandonment_rate) == (V1, 0, 0, 0.0, 0.0)
    assert analytics.video_stats_by_course([COURSE]) == {COURSE: [v1]}


def test_odd_player_and_grader_values_read_clamped_and_finite(clickhouse):
    """
    What players and graders really send besides the usual: no duration yet (the HTML5 player's NaN
    arrives as null) or 0, positions before the start or past the end, a seek to a negative time,
    a problem worth 0 points, a grade above the maximum. Every figure stays a finite number in its
    range: a video's duration is then the furthest position seen, segments start at 0, scores
    stay within 0..1.
    """
    seed_sinks(clickhouse)
    send(clickhouse, [
        _video(1, "play_video", V1, at(3), None, currentTime=0),
        _video(1, "pause_video", V1, at(3, 50), None, currentTime=50),
        _video(2, "play_video", V1, at(3), 0, currentTime=-5),
        _video(2, "pause_video", V1, at(3, 500), 0, currentTime=500),
        _video(3, "play_video", V2, at(3), 200, currentTime=150),
        _video(3, "seek_video", V2, at(3, 10), 200, old_time=160, new_time=-20, type="onSlideSeek"),
        _video(3, "stop_video", V2, at(3, 40), 200, currentTime=10),
        _check(1, P1, at(3), 1, 1, 0),
        _check(2, P1, at(3), 1, 3, 2),
    ])
    watched = {(v.user_id, v.video_id): (v.duration, v.segments, v.watched_share)
               for v in analytics.learner_videos(COURSE)}
    assert watched == {(1, V1): (50, ((0, 50),), 1), (2, V1): (500, ((0, 500),), 1),
                       (3, V2): (200, ((0, 10), (150, 160)), 0.1)}
    assert {p.user_id: p.best_score for p in analytics.learner_problems(COURSE)} == {1: 0, 2: 1}
    [problem] = analytics.problem_stats(COURSE)
    assert (problem.learners, problem.average_score) == (2, 0.5)

    def numbers(value):
        if isinstance(value, float):
            yield value
        elif isinstance(value, (list, tuple, dict)):
            for item in value.values() if isinstance(value, dict) else value:
                yield from numbers(item)
    assert all(math.isfinite(n) for n in numbers(figures()))


def assert_refreshes_change_nothing(course, figures, dirty):
    """A refresh keeps what was computed at read time; the same events again, or nothing new, change nothing."""
    fresh = figures()
    refresh_kept_tables(course, keep_running=False)
    assert course.query(dirty) == [(0,)] and figures() == fresh
    send(course, events())  # the same events again
    refresh_kept_tables(course, keep_running=False)
    assert figures() == fresh
    refresh_kept_tables(course, keep_running=False)  # nothing changed since
    assert figures() == fresh


def video_figures():
    return (analytics.video_stats(COURSE), analytics.learner_videos(COURSE), analytics.video_dropoff(COURSE, V1),
            analytics.video_dropoff(COURSE, V2))


def test_kept_video_pairings_read_like_fresh_ones_and_new_points_count_at_once(course, settings):
    """
    analytics_video_watch keeps each learner-video's pairing (refreshed by ClickHouse every
    minute): figures read from the kept rows equal those paired at read time; points that arrive
    after a refresh count at once (their learner is paired afresh at read time); the same events
    again change nothing; a refresh with nothing new changes nothing.
    """
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0  # every insert here has committed when the next one starts
    sync_settings(course)
    paired_when_read = video_figures()
    refresh_kept_tables(course, keep_running=False)
    kept = course.query("SELECT video_id, user_id, plays, watched_seconds FROM analytics_video_watch FINAL "
                        "WHERE user_id >= 0 ORDER BY video_id, user_id")
    # kept for whoever played (zed, 99, is not enrolled: kept, and left out by every reader)
    assert {(v, u) for v, u, *_ in kept} == {(V1, 1), (V1, 2), (V2, 3), (V2, 5), (V1, 99)}
    assert dict(((v, u), seconds) for v, u, _, seconds in kept)[(V1, 2)] == 50  # bob: [0, 30] and [80, 100]
    dirty = ("SELECT count() FROM analytics_video_learner WHERE changed_at > (SELECT max(source_changed_at) "
             "FROM analytics_video_watch WHERE course_key = '')")
    assert course.query(dirty) == [(0,)]  # so every figure below came from the kept rows
    assert video_figures() == paired_when_read

    # eve (5) now watches V2 from 20 s to the end (200 s): she completes it, at once
    send(course, [_video(5, "play_video", V2, at(0, 100), 200, currentTime=20),
                  _video(5, "stop_video", V2, at(0, 300), 200, currentTime=200)])
    assert course.query(dirty) == [(1,)]
    v2 = analytics.video_stats(COURSE)[1]
    assert (v2.video_id, v2.completed_viewers, v2.plays) == (V2, 2, 3)
    eve = {(v.user_id, v.video_id): v for v in analytics.learner_videos(COURSE)}[(5, V2)]
    assert eve.segments == ((0, 200),) and eve.watched_share == 1  # [0, 20] before, [20, 200] now

    # bob (2), kept for V1, now plays V2 too: the new video counts at once, his V1 reads as before
    send(course, [_video(2, "play_video", V2, at(0, 400), 200, currentTime=0),
                  _video(2, "pause_video", V2, at(0, 410), 200, currentTime=10)])
    changed = ("SELECT DISTINCT video_id, user_id FROM analytics_video_learner WHERE changed_at > "
               "(SELECT max(source_changed_at) FROM analytics_video_watch WHERE course_key = '') ORDER BY user_id")
    assert course.query(changed) == [(V2, 2), (V2, 5)]
    bob = {v.video_id: v for v in analytics.learner_videos(COURSE, user_id=2)}
    assert bob[V1].segments == ((0, 30), (80, 100)) and bob[V1].watched_seconds == 50
    assert bob[V2].segments == ((0, 10),) and bob[V2].plays == 1
    assert (analytics.video_stats(COURSE)[1].viewers, analytics.video_stats(COURSE)[1].plays) == (3, 4)
    assert_refreshes_change_nothing(course, video_figures, dirty)


def test_kept_video_rows_follow_enrollments_at_once(course, settings):
    """
    A kept learner-video says whether its learner is enrolled (the video reports filter on it): an
    enrollment that the sinks write or delete after a refresh counts at once (the learner is paired
    at read time until the next refresh keeps the new flag), and the refresh changes nothing.
    """
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0
    sync_settings(course)
    refresh_kept_tables(course, keep_running=False)
    dirty = "SELECT count() FROM analytics_video_watch_changed_for(course_keys = [])"
    flags = "SELECT user_id, video_id, enrolled FROM analytics_video_watch FINAL WHERE user_id >= 0 ORDER BY user_id"
    assert course.query(dirty) == [(0,)]
    assert course.query(flags) == [(1, V1, 1), (2, V1, 1), (3, V2, 1), (5, V2, 1), (99, V1, 0)]

    # zed (99), kept as not enrolled, enrolls; bob's (2) enrollment is deleted.
    course.insert("course_enrollment", [[99, COURSE, "2026-11-30", True, "audit", "zed", 99, uuid.uuid4(),
                                         "2026-11-30", 1, 0],
                                        [2, COURSE, "2026-10-01", True, "verified", "bob", 2, uuid.uuid4(),
                                         "2026-11-30", 2, 1]],
                  ["id", "course_key", "created", "is_active", "mode", "username", "user_id", "dump_id",
                   "time_last_dumped", "version", "is_deleted"])
    assert course.query(dirty) == [(2,)]
    v1 = analytics.video_stats(COURSE)[0]
    # ada watched 60 s of 100, zed all of it (bob's 50 s no longer count)
    assert (v1.video_id, v1.viewers, v1.completed_viewers) == (V1, 2, 1)
    assert v1.average_watched_share == pytest.approx(0.8)
    assert {(v.user_id, v.video_id) for v in analytics.learner_videos(COURSE)} == {
        (1, V1), (99, V1), (3, V2), (5, V2)}
    assert [p.viewers for p in analytics.video_dropoff(COURSE, V1)] == [2] * 12 + [1] * 8  # ada 0-60 s, zed 0-100 s
    assert_refreshes_change_nothing(course, video_figures, dirty)
    assert course.query(flags) == [(1, V1, 1), (2, V1, 0), (3, V2, 1), (5, V2, 1), (99, V1, 1)]


def site_before(clickhouse, database, tmp_path, settings, left_out=(), as_it_was=None):
    """
    A site of its own, ``database``, migrated as an older release left it: every migration but
    ``left_out``, with ``as_it_was`` ({file name: its old text}) in place of today's files; the
    sink tables seeded and the kept tables exact at once (margin 0). :func:`upgrade` brings it up
    to date.
    """
    clickhouse.command(f"DROP DATABASE IF EXISTS {database}")
    site = ClickHouse(dataclasses.replace(clickhouse.config, database=database))
    for path in sorted(MIGRATIONS_DIR.glob("*.sql")):
        if path.name not in left_out:
            (tmp_path / path.name).write_text(path.read_text())
    for name, text in (as_it_was or {}).items():
        (tmp_path / name).write_text(text)
    MigrationRunner(site, directory=tmp_path).run()
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0
    sync_settings(site)
    seed_sinks(site)
    return site


def upgrade(site, tmp_path):
    """Today's migrations applied to a :func:`site_before`; the names of those it applied."""
    for path in MIGRATIONS_DIR.glob("*.sql"):
        (tmp_path / path.name).write_text(path.read_text())
    applied = MigrationRunner(site, directory=tmp_path).run()
    site.forget_schema()
    return applied


def test_upgrade_to_kept_enrollment_flags_reads_exact_video_figures(clickhouse, tmp_path, settings):
    """
    A site whose kept learner-videos were written without the enrollment flag (the refresh of 0036,
    the views of 0035 as they were) reads exact video figures at once after the upgrade, and after
    the new refresh has kept the flag.
    """
    database = "test_video_flag_upgrade"
    site = site_before(
        clickhouse, database, tmp_path, settings,
        left_out=("0034_analytics_video_watch_enrolled.sql", "0042_analytics_video_watch_enrolled_refresh.sql"),
        as_it_was={"0035_analytics_video_reports.sql": (
            Path(__file__).parent / "migrations_before" / "0035_analytics_video_reports.before_0042.sql").read_text()})
    send(site, events())
    refresh_kept_tables(site, keep_running=False)
    assert site.query("SELECT count() FROM analytics_video_watch WHERE user_id >= 0") == [(5,)]

    assert upgrade(site, tmp_path) == [
        "0034_analytics_video_watch_enrolled", "0035_analytics_video_reports",
        "0042_analytics_video_watch_enrolled_refresh"]

    def figures():
        v1, v2 = analytics.video_stats(COURSE, clickhouse=site)
        assert (v1.viewers, v1.plays, v2.viewers, v2.completed_viewers) == (2, 3, 2, 1)
        assert {(v.user_id, v.video_id) for v in analytics.learner_videos(COURSE, clickhouse=site)} == {
            (1, V1), (2, V1), (3, V2), (5, V2)}
        return v1, v2

    before = figures()  # nothing kept: every learner paired at read time
    refresh_kept_tables(site, keep_running=False)
    assert site.query("SELECT user_id, enrolled FROM analytics_video_watch FINAL WHERE user_id >= 0 "
                      "ORDER BY user_id") == [(1, 1), (2, 1), (3, 1), (5, 1), (99, 0)]
    assert figures() == before
    clickhouse.command(f"DROP DATABASE {database}")


def test_video_dropoff(course):
    viewers = [p.viewers for p in analytics.video_dropoff(COURSE, V1)]
    assert viewers == [2] * 6 + [1] * 6 + [0] * 4 + [1] * 4


# -- grades ------------------------------------------------------------------------------------------
def test_grades(course):
    grades = analytics.grades(COURSE)
    assert (grades.graded, grades.passing, grades.passing_rate) == (5, 1, 0.2)
    assert [b.learners for b in grades.buckets] == [0, 1, 1, 1, 1, 0, 0, 0, 0, 1]
    assert grades.buckets[9].passing_learners == 1 and grades.buckets[9].lower_bound == 0.9
    assert grades.letters == (("", 4), ("A", 1))
    assert analytics.passing_learners(COURSE) == 1


# -- learner status and at-risk ------------------------------------------------------------------------
def test_learner_status(course):
    status = by_user(analytics.learner_status(COURSE, AS_OF))
    assert set(status) == set(range(1, 9))  # every enrollment, not zed
    ada = status[1]
    assert (ada.enrollment_mode, ada.is_active, ada.last_active_day, ada.days_inactive) == (
        "audit", True, at(1).date(), 1)
    assert (ada.active_days, ada.active_days_7, ada.active_days_30, ada.engaged) == (2, 1, 2, True)
    assert (ada.percent_grade, ada.grade_status, ada.passing_grade, ada.is_passing) == (
        0.31, "below passing", 0.5, False)
    assert (ada.problems_attempted, ada.problems_solved, ada.videos_watched, ada.at_risk) == (2, 1, 1, False)
    assert (status[2].grade_status, status[2].is_passing, status[2].letter_grade) == ("passing", True, "A")
    assert (status[3].percent_grade, status[3].letter_grade, status[3].grade_status) == (None, None,
                                                                                          "not graded yet")
    assert (status[4].is_active, status[4].days_inactive, status[4].active_days_30) == (False, 30, 0)
    # fay was active 2 days after AS_OF: not counted as of AS_OF
    assert (status[6].days_inactive, status[6].active_days, status[6].last_activity_at) == (6, 1, at(-2))
    assert (status[7].engaged, status[7].days_inactive) == (False, 20)  # course home only
    hal = status[8]
    assert (hal.last_activity_at, hal.last_active_day, hal.days_inactive, hal.active_days, hal.engaged) == (
        None, None, None, 0, False)


def learner_figures():
    return (analytics.learner_status(COURSE, AS_OF), analytics.learner_engagement(COURSE),
            analytics.at_risk_learners(COURSE, AS_OF), analytics.funnel(COURSE, AS_OF),
            analytics.learner_status(COURSE, AS_OF, limit=3, offset=2))


def test_kept_learner_rollup_reads_like_a_fresh_merge_and_new_activity_counts_at_once(course, settings):
    """
    analytics_learner_rollup keeps each learner's merged activity (refreshed by ClickHouse every
    minute): the status, engagement, at-risk list and funnel read from kept rows equal those merged
    at read time; activity after a refresh counts at once; the same events again change nothing.
    """
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0  # every insert here has committed when the next one starts
    sync_settings(course)
    merged_when_read = learner_figures()
    refresh_kept_tables(course, keep_running=False)
    kept = dict(((u, c), (d, e)) for u, c, d, e in course.query(
        "SELECT user_id, course_key, length(active_days), events FROM analytics_learner_rollup FINAL "
        "WHERE user_id >= 0"))
    assert kept[(1, COURSE)] == (2, 7) and (99, COURSE) in kept  # zed: kept, and left out by every reader
    dirty = ("SELECT count() FROM analytics_learner_activity WHERE changed_at > (SELECT max(source_changed_at) "
             "FROM analytics_learner_rollup WHERE course_key = '')")
    assert course.query(dirty) == [(0,)]  # so every figure below came from the kept rows
    assert learner_figures() == merged_when_read

    # eve (5, at risk: 7 days inactive) answers a problem today: no longer at risk, at once
    send(course, [_check(5, P1, at(0, 100), 1, 1, 1)])
    assert course.query(dirty) == [(1,)]
    assert [r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF)] == [3]
    eve = by_user(analytics.learner_status(COURSE, AS_OF))[5]
    assert (eve.days_inactive, eve.problems_attempted, eve.problems_solved) == (0, 2, 1)  # P2 before, P1 now
    assert by_user(analytics.learner_engagement(COURSE))[5].events == 5
    assert_refreshes_change_nothing(course, learner_figures, dirty)


def test_kept_learner_rows_follow_new_grades_unenrollments_and_deleted_enrollments_at_once(course, settings):
    """
    A kept learner row also carries the enrollment and the grade: a grade, an unenrollment or a
    deleted enrollment that the sinks write after a refresh shows at once (the learner is computed
    at read time until the next refresh keeps the new row), and the refresh changes nothing.
    """
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0
    sync_settings(course)
    refresh_kept_tables(course, keep_running=False)
    dirty = "SELECT count() FROM analytics_learner_rollup_changed_for(course_keys = [], user_ids = [])"
    assert course.query(dirty) == [(0,)]
    assert [r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF)] == [3, 5]

    enrollment_columns = ["id", "course_key", "created", "is_active", "mode", "username", "user_id", "dump_id",
                          "time_last_dumped", "version", "is_deleted"]
    # cid (3) is graded 0.8, passing; eve (5) unenrolls; ada's (1) enrollment is deleted.
    course.insert("course_grades", [[3, 3, COURSE, "Org", "v1", "h", 0.8, "B", True, "", "", "", uuid.uuid4(),
                                     "2026-11-30", 2, 0]],
                  ["id", "user_id", "course_key", "org", "course_version", "grading_policy_hash", "percent_grade",
                   "letter_grade", "is_passing", "passed_timestamp", "created", "modified", "dump_id",
                   "time_last_dumped", "version", "is_deleted"])
    course.insert("course_enrollment", [[5, COURSE, "2026-10-01", False, "audit", "eve", 5, uuid.uuid4(),
                                         "2026-11-30", 2, 0],
                                        [1, COURSE, "2026-10-01", True, "audit", "ada", 1, uuid.uuid4(),
                                         "2026-11-30", 2, 1]], enrollment_columns)
    assert course.query(dirty) == [(3,)]
    assert analytics.at_risk_learners(COURSE, AS_OF) == []
    status = by_user(analytics.learner_status(COURSE, AS_OF))
    assert 1 not in status and 1 not in by_user(analytics.learner_engagement(COURSE))
    assert (status[3].grade_status, status[3].percent_grade, status[3].letter_grade) == ("passing", 0.8, "B")
    assert (status[5].is_active, status[5].at_risk) == (False, False)
    assert analytics.funnel(COURSE, AS_OF) == analytics.Funnel(enrolled=5, active=4, attempted_problem=2, passing=2)
    assert_refreshes_change_nothing(course, learner_figures, dirty)


def eve_below_passing(clickhouse=None):
    """Eve's (5) at-risk reasons, and the passing grade of her status."""
    eve = {r.user_id: r for r in analytics.at_risk_learners(COURSE, AS_OF, clickhouse=clickhouse)}[5]
    status = by_user(analytics.learner_status(COURSE, AS_OF, clickhouse=clickhouse))[5]
    return eve.reasons, eve.passing_grade, status.passing_grade


def test_kept_learner_rows_follow_a_new_passing_grade_at_once(course, settings):
    """
    A kept learner row carries the course's passing grade: the course published with another one
    shows it at once (the course counts as changed), and the refresh copies the course's kept rows
    with it, so reads of kept rows alone show it after.
    """
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0
    sync_settings(course)
    refresh_kept_tables(course, keep_running=False)
    dirty = "SELECT count() FROM analytics_learner_rollup_changed_for(course_keys = [], user_ids = [])"
    assert course.query(dirty) == [(0,)]
    assert eve_below_passing() == ("inactive 7 days; grade 0.20 below 0.50", 0.5, 0.5)

    write_overview(course, lowest_passing_grade=0.6, version=2)
    assert course.query(dirty) == [(1,)]  # the course itself
    assert eve_below_passing() == ("inactive 7 days; grade 0.20 below 0.60", 0.6, 0.6)
    refresh_kept_tables(course, keep_running=False)
    assert course.query(dirty) == [(0,)]
    assert course.query("SELECT groupUniqArray(passing_grade) FROM analytics_learner_rollup FINAL "
                        "WHERE user_id >= 0") == [([0.6],)]
    assert eve_below_passing() == ("inactive 7 days; grade 0.20 below 0.60", 0.6, 0.6)

    write_overview(course, lowest_passing_grade=None, version=3)  # the course sets none: the default
    settings.ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE = 0.7
    assert eve_below_passing() == ("inactive 7 days; grade 0.20 below 0.70", 0.7, 0.7)
    assert_refreshes_change_nothing(course, learner_figures, dirty)
    assert eve_below_passing() == ("inactive 7 days; grade 0.20 below 0.70", 0.7, 0.7)


def test_upgrade_from_activity_only_kept_rows_reads_exact_figures(clickhouse, tmp_path, settings):
    """
    A site migrated before the kept learner rows carried enrollments and grades (its refresh of
    0039 writing activity-only rows) upgrades to exact figures at once, and after its new refresh.
    """
    database = "test_rollup_upgrade"
    clickhouse.command(f"DROP DATABASE IF EXISTS {database}")
    site = ClickHouse(dataclasses.replace(clickhouse.config, database=database))
    migrations = sorted(MIGRATIONS_DIR.glob("*.sql"))
    old = [m for m in migrations if m.name <= "0039_analytics_learner_rollup_refresh.sql"
           and m.name not in ("0037_analytics_learner_rollup_status.sql", "0038_analytics_learner_reports.sql")]
    for path in old:
        (tmp_path / path.name).write_text(path.read_text())
    # 0038 as it was: the rollup views without the enrollment and grade columns.
    (tmp_path / "0038_analytics_learner_reports.sql").write_text(OLD_ROLLUP_VIEWS)
    MigrationRunner(site, directory=tmp_path).run()
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0
    sync_settings(site)
    seed_sinks(site)
    send(site, events())
    site.command(f"SYSTEM REFRESH VIEW {database}.analytics_learner_rollup_refresh")
    site.command(f"SYSTEM WAIT VIEW {database}.analytics_learner_rollup_refresh")
    assert site.query("SELECT count() FROM analytics_learner_rollup WHERE user_id >= 0") == [(8,)]

    # The upgrade, and the old refresh running in the middle of it (its minute may come at any time).
    for path in migrations:
        if path.name < "0040":
            (tmp_path / path.name).write_text(path.read_text())
    assert MigrationRunner(site, directory=tmp_path).run() == [
        "0037_analytics_learner_rollup_status", "0038_analytics_learner_reports"]
    site.command(f"SYSTEM REFRESH VIEW {database}.analytics_learner_rollup_refresh")
    site.command(f"SYSTEM WAIT VIEW {database}.analytics_learner_rollup_refresh")
    for path in migrations:
        (tmp_path / path.name).write_text(path.read_text())
    assert "0040_analytics_learner_status_refresh" in MigrationRunner(site, directory=tmp_path).run()
    site.forget_schema()
    expected = analytics.Funnel(enrolled=7, active=6, attempted_problem=4, passing=1)
    assert analytics.funnel(COURSE, AS_OF, clickhouse=site) == expected
    assert [r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF, clickhouse=site)] == [3, 5]
    refresh_kept_tables(site, keep_running=False)
    assert site.query("SELECT countIf(enrolled) FROM analytics_learner_rollup FINAL WHERE user_id >= 0") == [(8,)]
    assert analytics.funnel(COURSE, AS_OF, clickhouse=site) == expected
    assert [r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF, clickhouse=site)] == [3, 5]
    clickhouse.command(f"DROP DATABASE {database}")


def test_upgrade_to_kept_passing_grades_reads_exact_figures(clickhouse, tmp_path, settings):
    """
    A site whose kept learner rows hold no passing grade (migrated before 0041) reads the course's
    own at once after the upgrade, and from the kept rows after the new refresh.
    """
    database = "test_rollup_passing_upgrade"
    settings.ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE = 0.7  # what a kept row without the course's would show
    site = site_before(
        clickhouse, database, tmp_path, settings,
        left_out=("0037_analytics_learner_rollup_passing_grade.sql",
                  "0041_analytics_learner_rollup_passing_grade_refresh.sql"),
        # 0038 as it was, as far as the refresh of 0040 reads it.
        as_it_was={"0038_analytics_learner_reports.sql": VIEWS_BEFORE_KEPT_PASSING_GRADES})
    send(site, events())
    refresh_kept_tables(site, keep_running=False)
    assert site.query("SELECT count() FROM analytics_learner_rollup FINAL WHERE user_id >= 0") == [(9,)]

    assert upgrade(site, tmp_path) == [
        "0037_analytics_learner_rollup_passing_grade", "0038_analytics_learner_reports",
        "0041_analytics_learner_rollup_passing_grade_refresh"]
    kept = "SELECT count(), groupUniqArray(passing_grade) FROM analytics_learner_rollup FINAL WHERE user_id >= 0"
    expected = ("inactive 7 days; grade 0.20 below 0.50", 0.5, 0.5)
    assert site.query(kept) == [(9, [])]  # no passing grade kept yet (NULL)
    assert eve_below_passing(site) == expected
    refresh_kept_tables(site, keep_running=False)
    dirty = "SELECT count() FROM analytics_learner_rollup_changed_for(course_keys = [], user_ids = [])"
    assert site.query(dirty) == [(0,)] and site.query(kept) == [(9, [0.5])]
    assert eve_below_passing(site) == expected
    clickhouse.command(f"DROP DATABASE {database}")


# 0038's compute view as it was before the kept rows carried the course's passing grade: what the
# refresh of 0040 was created against on sites migrated before.
VIEWS_BEFORE_KEPT_PASSING_GRADES = (
    Path(__file__).parent / "migrations_before" / "0038_analytics_learner_reports.before_0041.sql").read_text()


# The learner-rollup views of 0038 before the kept rows carried enrollments and grades: what the
# refresh of 0039 was created against on sites migrated before.
OLD_ROLLUP_VIEWS = """-- repeatable: views
CREATE OR REPLACE VIEW ${database}.analytics_learner_rollup_compute_for AS
SELECT a.org AS org, a.course_key AS course_key, a.user_id AS user_id,
    a.first_activity_at AS first_activity_at, a.last_activity_at AS last_activity_at,
    a.first_engaged_at AS first_engaged_at, arraySort(a.active_days) AS active_days,
    toUInt32(length(a.problems_attempted)) AS problems_attempted,
    toUInt32(length(a.problems_solved)) AS problems_solved,
    toUInt32(length(a.videos_watched)) AS videos_watched,
    finalizeAggregation(a.events) AS events, a.changed_at AS source_changed_at
FROM ${database}.analytics_learner_activity AS a FINAL
WHERE (empty({course_keys:Array(String)}) OR a.course_key IN {course_keys:Array(String)})
  AND (empty({user_ids:Array(Int64)}) OR a.user_id IN {user_ids:Array(Int64)});
"""


def test_at_risk_learners_and_their_reasons(course):
    at_risk = analytics.at_risk_learners(COURSE, AS_OF)
    assert [(r.user_id, r.days_inactive, r.percent_grade, r.grade_status, r.reasons) for r in at_risk] == [
        (3, 12, None, "not graded yet", "inactive 12 days; not graded yet"),
        (5, 7, 0.2, "below passing", "inactive 7 days; grade 0.20 below 0.50"),
    ]
    assert analytics.at_risk_count(COURSE, AS_OF) == 2
    assert [r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF, limit=1)] == [3]
    # Not listed: ada (active yesterday and long ago), bob (passing), dee (unenrolled), fay (6 days),
    # gus (course home only), hal (nothing yet), zed (not enrolled).


def test_inactive_days_setting_moves_the_boundary(course, settings):
    settings.ASPECTS_AT_RISK_INACTIVE_DAYS = 8
    assert [r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF)] == [3]  # eve: 7 days < 8
    settings.ASPECTS_AT_RISK_INACTIVE_DAYS = 6
    assert [r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF)] == [3, 5, 6]  # fay: exactly 6


def test_as_of_a_later_day(course):
    later = AS_OF + timedelta(days=1)
    at_risk = {r.user_id: r for r in analytics.at_risk_learners(COURSE, later)}
    # fay's activity after AS_OF is 2 days later still: as of the next day she is 7 days inactive.
    assert set(at_risk) == {3, 5, 6} and at_risk[6].reasons == "inactive 7 days; grade 0.40 below 0.50"


def test_course_without_passing_grade_uses_the_default(course, settings):
    course.command(f"TRUNCATE TABLE {course.qualified('course_overviews')}")
    settings.ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE = 0.6
    eve = {r.user_id: r for r in analytics.at_risk_learners(COURSE, AS_OF)}[5]
    assert eve.reasons == "inactive 7 days; grade 0.20 below 0.60"


def test_course_report(course):
    report = analytics.course_report(COURSE, AS_OF, weeks=5, hardest=5, at_risk_limit=1)
    assert report.funnel.enrolled == 7 and [w.active_learners for w in report.weekly_active] == [1, 0, 3, 2, 2]
    assert [p.problem_id for p in report.hardest_problems] == [P2, P1, P3]
    assert report.most_abandoned_video.video_id == V1
    assert report.at_risk_count == 2 and [r.user_id for r in report.at_risk] == [3]


COPY = COURSE.replace("AN101", "AN102")  # the same course run again, with only learners 1-3 enrolled
QUIET = COURSE.replace("AN101", "AN103")  # a course with nothing in ClickHouse


@pytest.fixture
def three_courses(course):
    """COURSE, COPY (the same events and sink rows under another key, but only learners 1-3 enrolled), QUIET."""
    for table, where in (("course_overviews", ""), ("course_blocks", ""), ("course_grades", ""),
                         ("course_enrollment", "WHERE user_id <= 3")):  # (only COURSE's rows are there yet)
        columns = course.column_types(table)
        swapped = ", ".join(f"replaceAll({c}, 'AN101', 'AN102') AS {c}" for c in ("course_key", "location")
                            if c in columns)
        course.command(f"INSERT INTO {course.qualified(table)} SELECT * REPLACE ({swapped}) "
                       f"FROM {course.qualified(table)} {where}")
    send(course, [json.loads(serialize(e).replace("AN101", "AN102")) for e in events()])
    return course


def test_a_batch_of_courses_answers_each_course_as_alone(three_courses, settings):
    """
    What the digest reads for many courses at once: every figure of every course equals the
    one-course answer, a learner counts only in the courses they are enrolled in (also from the
    kept rows, whose enrollment flag is per course), and a course with no data still gets its
    (empty) answer.
    """
    keys = [COURSE, COPY, QUIET]
    reports = analytics.course_reports(keys, AS_OF, weeks=5, hardest=5, at_risk_limit=1)
    assert list(reports) == keys
    for key in keys:
        assert reports[key] == analytics.course_report(key, AS_OF, weeks=5, hardest=5, at_risk_limit=1), key
    assert reports[COURSE].funnel == analytics.Funnel(enrolled=7, active=6, attempted_problem=4, passing=1)
    assert reports[COPY].funnel == analytics.Funnel(enrolled=3, active=3, attempted_problem=3, passing=1)
    assert reports[QUIET].funnel == analytics.Funnel(0, 0, 0, 0) and reports[QUIET].at_risk == ()
    assert reports[QUIET].hardest_problems == () and reports[QUIET].most_abandoned_video is None
    assert [w.active_learners for w in reports[QUIET].weekly_active] == [0] * 5
    at_risk = analytics.at_risk_by_course(keys, AS_OF)
    assert {k: [r.user_id for r in v] for k, v in at_risk.items()} == {
        COURSE: [r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF)],
        COPY: [r.user_id for r in analytics.at_risk_learners(COPY, AS_OF)], QUIET: []}
    assert analytics.at_risk_counts(keys, AS_OF) == {COURSE: 2, COPY: analytics.at_risk_count(COPY, AS_OF), QUIET: 0}
    weeks = analytics.enrollment_weeks_by_course(keys, AS_OF, weeks=2)
    assert weeks == {key: analytics.enrollment_weeks(key, AS_OF, weeks=2) for key in keys}
    videos = analytics.video_stats_by_course(keys)
    assert videos == {key: analytics.video_stats(key) for key in keys}
    # eve (5) watched V2 in both courses but is enrolled in COURSE only: cid (3) alone in COPY
    assert [(v.viewers, v.plays) for v in videos[COURSE]] == [(2, 3), (2, 2)]
    assert [(v.viewers, v.plays) for v in videos[COPY]] == [(2, 3), (1, 1)]
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0
    sync_settings(three_courses)
    refresh_kept_tables(three_courses, keep_running=False)  # the same figures from kept rows
    assert three_courses.query("SELECT count() FROM analytics_video_watch_changed_for(course_keys = [])") == [(0,)]
    assert analytics.video_stats_by_course(keys) == videos
    assert analytics.problem_stats_by_course(keys)[COPY] == analytics.problem_stats(COPY) != []


def test_a_batch_refuses_a_malformed_key_before_any_query(course):
    with pytest.raises(ValueError):
        analytics.course_reports([COURSE, "not a course"], AS_OF)


def test_learner_identities_only_with_pii(course, settings):
    settings.ASPECTS_ENABLE_PII = False
    assert analytics.learner_identities(COURSE, [3, 5]) == {}
    settings.ASPECTS_ENABLE_PII = True
    assert analytics.learner_identities(COURSE, [3, 5, 99]) == {
        3: analytics.LearnerIdentity(3, "cid", "Cid", "cid@example.com"),
        5: analytics.LearnerIdentity(5, "eve", "Eve", "eve@example.com"),
    }  # zed is not a learner of the course


# -- what dashboards read ---------------------------------------------------------------------------------
DASHBOARD_VIEWS = ("analytics_course_blocks", "analytics_learner_status", "analytics_at_risk_learners",
                   "analytics_learner_engagement",
                   "analytics_learner_problems", "analytics_problem_stats", "analytics_learner_videos",
                   "analytics_video_stats", "analytics_video_dropoff", "analytics_section_reach",
                   "analytics_daily_activity", "analytics_enrollment_changes", "analytics_enrollment_modes",
                   "analytics_grade_distribution", "analytics_letter_grades", "analytics_learner_status_pii")


def test_every_view_exposes_org_and_course_key_and_no_pii_outside_the_pii_view(course):
    columns = {}
    for table, column in course.query(
            "SELECT table, name FROM system.columns WHERE database = {db:String} AND table LIKE 'analytics%'",
            {"db": course.database}):
        columns.setdefault(table, set()).add(column)
    for view in DASHBOARD_VIEWS:
        assert {"org", "course_key"} <= columns[view], view
        pii = {"username", "name", "email"} & columns[view]
        assert pii == (set() if not view.endswith("_pii") else {"username", "name", "email"}), view
        rows = course.query(f"SELECT org, course_key FROM {view} WHERE course_key = {{c:String}} LIMIT 1",
                            {"c": COURSE})
        assert rows == [("Org", COURSE)], view
    # Retirement deletes by user_id: every learner-level table has one.
    for table in ("analytics_learner_activity", "analytics_problem_learner", "analytics_video_learner"):
        assert "user_id" in columns[table]


def test_plain_views_agree_with_the_query_module(course):
    today = course.query("SELECT today()")[0][0]
    expected = [(r.user_id, r.reasons) for r in analytics.at_risk_learners(COURSE, today)]
    assert expected  # everyone has been inactive for a while by now
    assert course.query("SELECT user_id, at_risk_reasons FROM analytics_at_risk_learners "
                        "WHERE course_key = {c:String} ORDER BY days_inactive DESC, percent_grade ASC NULLS LAST, "
                        "user_id", {"c": COURSE}) == expected
    stats = course.query_dicts("SELECT * FROM analytics_problem_stats WHERE course_key = {c:String} "
                               "ORDER BY course_order", {"c": COURSE})
    assert [(s["problem_id"], s["attempts"]) for s in stats] == [(P1, 4), (P2, 3), (P3, 1)]


def test_no_view_sends_a_semicolon(course):
    # The query module sends the views' SELECTs written out; a ';' anywhere in a query's text
    # (even in a string literal) makes clickhouse-connect lex the whole query in Python before
    # sending it, which cost the status reports 4-5 ms each. The reasons still read "days; grade".
    views = [name for (name,) in course.query(
        "SELECT name FROM system.tables WHERE database = {db:String} AND engine = 'View' AND name LIKE 'analytics%'",
        {"db": course.database})]
    assert "analytics_learner_status_for" in views
    assert [view for view in views if ";" in course.view_query(view)] == []
    today = course.query("SELECT today()")[0][0]
    assert all("days; " in r.reasons for r in analytics.at_risk_learners(COURSE, today))


def test_migrate_clickhouse_copies_the_at_risk_settings_for_the_views(course, settings):
    today = course.query("SELECT today()")[0][0]
    settings.ASPECTS_AT_RISK_INACTIVE_DAYS = (today - AS_OF).days + 12  # only cid (12 days before AS_OF) left
    out = StringIO()
    call_command("migrate_clickhouse", stdout=out)
    assert "at-risk learners inactive for" in out.getvalue()
    assert course.query("SELECT user_id FROM analytics_at_risk_learners WHERE course_key = {c:String}",
                        {"c": COURSE}) == [(3,)]
    out = StringIO()
    call_command("migrate_clickhouse", stdout=out)
    assert "analytics settings unchanged" in out.getvalue()


def test_records_take_each_column_by_name_whatever_the_query_order(clickhouse):
    """A query names a record's fields in any order; a field missing or extra is a clear error."""
    from platform_plugin_aspects.analytics.queries import _records  # pylint: disable=import-outside-toplevel
    rows = _records(analytics.DailyActive, clickhouse,
                    "SELECT toUInt64(number) AS active_learners, toDate('2026-11-01') + number AS day "
                    "FROM numbers(3)", {})
    assert rows == [analytics.DailyActive(date(2026, 11, 1) + timedelta(days=n), n) for n in range(3)]
    assert rows[2].day == date(2026, 11, 3) and rows[2].active_learners == 2
    with pytest.raises(TypeError, match="DailyActive has fields"):
        _records(analytics.DailyActive, clickhouse, "SELECT 1 AS active_learners, 2 AS learners", {})


def test_a_learner_list_leaves_the_garbage_collector_as_it_found_it(course):
    """
    Records are built with the collector paused, then moved to its oldest generation in one step:
    the collector is back on after, a process's own frozen objects stay frozen, and where it had
    frozen some the records are handed back the ordinary way.
    """
    import gc  # pylint: disable=import-outside-toplevel
    expected = analytics.learner_status(COURSE, AS_OF)
    assert len(expected) == 8 and gc.isenabled() and gc.get_freeze_count() == 0
    kept = [object() for _ in range(10)]
    gc.freeze()  # e.g. a web server that froze its objects after start-up, for copy-on-write
    frozen = gc.get_freeze_count()
    try:
        assert analytics.learner_status(COURSE, AS_OF) == expected
        assert gc.get_freeze_count() > frozen // 2 and gc.isenabled()  # (some die meanwhile)
    finally:
        gc.unfreeze()
    gc.disable()
    try:
        assert analytics.learner_status(COURSE, AS_OF) == expected
        assert not gc.isenabled()  # off before, off after
    finally:
        gc.enable()
    assert kept


def test_bad_course_keys_get_a_clear_error(course):
    with pytest.raises(ValueError, match="not a course key"):
        analytics.funnel("'; DROP TABLE tracking_events; --")
    with pytest.raises(ValueError, match="as_of must be a date"):
        analytics.learner_status(COURSE, as_of="yesterday")
    assert analytics.funnel("course-v1:Nobody+Nothing+Never") == analytics.Funnel(0, 0, 0, 0)


# -- idempotence -------------------------------------------------------------------------------------
def figures(as_of=AS_OF, clickhouse=None):
    """Every figure of the course (on ``clickhouse``, default: the suite's site), as plain data."""
    return {name: value._asdict() if hasattr(value, "_asdict") else [
        v._asdict() for v in value] for name, value in {
        "funnel": analytics.funnel(COURSE, as_of, clickhouse=clickhouse),
        "modes": analytics.enrollment_by_mode(COURSE, clickhouse=clickhouse),
        "enrollment_weeks": analytics.enrollment_weeks(COURSE, as_of, 6, clickhouse=clickhouse),
        "weekly": analytics.weekly_active_learners(COURSE, as_of, 6, clickhouse=clickhouse),
        "daily": analytics.daily_active_learners(COURSE, as_of - timedelta(days=35), as_of, clickhouse=clickhouse),
        "engagement": analytics.learner_engagement(COURSE, clickhouse=clickhouse),
        "reach": analytics.section_reach(COURSE, clickhouse=clickhouse),
        "problems": analytics.problem_stats(COURSE, clickhouse=clickhouse),
        "learner_problems": analytics.learner_problems(COURSE, clickhouse=clickhouse),
        "videos": analytics.video_stats(COURSE, clickhouse=clickhouse),
        "learner_videos": analytics.learner_videos(COURSE, clickhouse=clickhouse),
        "dropoff": analytics.video_dropoff(COURSE, V1, clickhouse=clickhouse),
        "grades": analytics.grades(COURSE, clickhouse=clickhouse),
        "status": analytics.learner_status(COURSE, as_of, clickhouse=clickhouse),
        "at_risk": analytics.at_risk_learners(COURSE, as_of, clickhouse=clickhouse),
    }.items()}


LOW_CARDINALITY = "0043_analytics_low_cardinality_keys.sql"


def low_cardinality_statements(database):
    """0043's statements for ``database``, as migrate_clickhouse runs them."""
    return Migration(LOW_CARDINALITY[:-4], (MIGRATIONS_DIR / LOW_CARDINALITY).read_text()).statements(database)


def test_upgrade_to_low_cardinality_ids_changes_no_figure(course, tmp_path, settings):
    """
    0043 stores the model's course and block ids as LowCardinality(String) on a site that already
    holds rows (the tables the events feed and the kept tables): every figure reads the same just
    after, the events sent after it land in the converted tables, and the figures then equal those
    of a site migrated with it from the start (the suite's, holding every event).
    """
    database = "test_low_cardinality_upgrade"
    site = site_before(course, database, tmp_path, settings, left_out=(LOW_CARDINALITY,))
    batch = events()
    send(site, batch[::2])
    refresh_kept_tables(site, keep_running=False)
    before = figures(clickhouse=site)
    ids = ("SELECT DISTINCT type FROM system.columns WHERE database = {db:String} AND table LIKE 'analytics%' "
           "AND name IN ('course_key', 'problem_id', 'video_id', 'block_id') AND table IN "
           "(SELECT name FROM system.tables WHERE database = {db:String} AND engine LIKE '%MergeTree')")
    assert site.query(ids, {"db": database}) == [("String",)]

    assert upgrade(site, tmp_path) == ["0043_analytics_low_cardinality_keys"]
    assert site.query(ids, {"db": database}) == [("LowCardinality(String)",)]
    assert figures(clickhouse=site) == before
    # A deploy killed half-way through it applies the file again: converting converted columns is a no-op.
    for statement in low_cardinality_statements(database):
        site.command(statement)
    assert figures(clickhouse=site) == before

    send(site, batch[1::2])
    assert figures(clickhouse=site) == figures()  # read at once (the later events' learners paired when read)
    refresh_kept_tables(site, keep_running=False)
    assert figures(clickhouse=site) == figures()  # and from the kept rows
    course.command(f"DROP DATABASE {database}")


def test_events_stored_between_0043s_alters_all_count(course, tmp_path, settings):
    """
    A deploy applies 0043 while the site keeps storing events, one table converted after another:
    events stored between its ALTERs (some tables already LowCardinality, the others not yet, the
    materialized views writing into both) all count, and once the file is recorded the figures
    equal those of the suite's site.
    """
    database = "test_low_cardinality_live"
    site = site_before(course, database, tmp_path, settings, left_out=(LOW_CARDINALITY,))
    statements = low_cardinality_statements(database)
    batch = events()
    slices = [batch[i::len(statements) + 1] for i in range(len(statements) + 1)]
    send(site, slices[0])
    for statement, events_meanwhile in zip(statements, slices[1:]):
        site.command(statement)
        send(site, events_meanwhile)
    assert upgrade(site, tmp_path) == ["0043_analytics_low_cardinality_keys"]
    assert figures(clickhouse=site) == figures()
    refresh_kept_tables(site, keep_running=False)
    assert figures(clickhouse=site) == figures()
    course.command(f"DROP DATABASE {database}")


def test_same_events_live_then_from_a_log_change_no_figure(clickhouse, settings, tmp_path):
    seed_sinks(clickhouse)
    settings.EVENT_SINK_CLICKHOUSE_TRACKING_EVENTS_ENABLED = True
    backend = ClickHouseTrackingBackend(spool_dir=str(tmp_path / "spool"), flush_interval_secs=0.05)
    for event in events():
        backend.send(event)
    wait_until(lambda: clickhouse.query("SELECT count() FROM tracking_events")[0][0] == len(events()),
               what="the live events")
    backend.close()
    live = figures()
    assert live["funnel"] == {"enrolled": 7, "active": 6, "attempted_problem": 4, "passing": 1}

    log = write_log(tmp_path / "tracking.log", [log_line(e, prefixed=bool(i % 2)) for i, e in enumerate(events())])
    call_command("load_tracking_log", str(log), no_progress=True)
    assert clickhouse.query("SELECT count(), uniqExact(event_id) FROM tracking_events")[0] == (
        2 * len(events()), len(events()))  # every event is stored twice (until merged) ...
    assert figures() == live  # ... and counted once
    call_command("load_tracking_log", str(log), no_progress=True, restart=True)
    clickhouse.command(f"OPTIMIZE TABLE {clickhouse.qualified('analytics_learner_activity')} FINAL")
    assert figures() == live


def test_one_batch_holding_every_event_twice_counts_each_once(clickhouse, tmp_path):
    """
    Events go in as sent (EVENT_INSERT_SETTINGS: ClickHouse does not collapse each insert by its
    key first), so a repeat inside one batch reaches tracking_events and the views alike: the model
    must count it once, as it does a repeat from another batch.
    """
    seed_sinks(clickhouse)
    lines = [log_line(e) for e in events()]
    log = write_log(tmp_path / "tracking.log", [line for line in lines for _ in range(2)])
    call_command("load_tracking_log", str(log), no_progress=True)
    stored, distinct = clickhouse.query("SELECT count(), uniqExact(event_id) FROM tracking_events")[0]
    assert (stored, distinct) == (2 * len(events()), len(events()))  # one insert, kept as sent until merged
    assert clickhouse.query("SELECT count() FROM tracking_events FINAL")[0][0] == len(events())
    assert figures()["funnel"] == {"enrolled": 7, "active": 6, "attempted_problem": 4, "passing": 1}
    once = figures()
    clickhouse.command(f"OPTIMIZE TABLE {clickhouse.qualified('tracking_events')} FINAL")
    assert figures() == once


# -- block ids --------------------------------------------------------------------------------------
def block_of(event):
    return event_row(json.loads(serialize(event)))[9]


@pytest.mark.parametrize("name,payload,expected", [
    # browser video events: payload is a JSON string, the block named by its short id
    ("play_video", json.dumps({"id": "v1", "currentTime": 3}), V1),
    ("edx.video.paused", json.dumps({"id": "v1", "currentTime": 3}), V1),
    ("seek_video", json.dumps({"id": "v1", "old_time": 1, "new_time": 9}), V1),
    ("complete_video", json.dumps({"id": "v1"}), V1),
    ("load_video", {"id": "v1"}, V1),
    # navigation: the sequence, or a jump_to target
    ("seq_goto", json.dumps({"old": 1, "new": 2, "id": S1A}), S1A),
    ("edx.ui.lms.sequence.next_selected", {"current_tab": 1, "tab_count": 3, "id": S1A}, S1A),
    ("edx.ui.lms.outline.selected", {"target_url": f"https://lms.example.com/courses/{COURSE}/jump_to/{S1B}",
                                     "target_name": "Practice"}, S1B),
    # problems: server events name it, browser ones too
    ("problem_check", {"problem_id": P1, "attempts": 1}, P1),
    ("problem_show", json.dumps({"problem": P2}), P2),
    ("showanswer", {"problem_id": P3}, P3),
    # completion
    ("edx.done.toggled", {"done": True, "block_key": P1}, P1),
    # nothing to name
    ("problem_check", "input_p1_2_1=choice_1", ""),
    ("play_video", "not json {", ""),
    ("edx.ui.lms.link_clicked", {"target_url": "https://example.com/about", "current_url": "x"}, ""),
])
def test_events_name_their_block(name, payload, expected):
    assert block_of(make_event(name, course_key=COURSE, payload=payload, source="browser")) == expected


def test_video_short_ids_in_other_course_key_forms():
    payload = json.dumps({"id": "i4x-Org-Old-video-intro", "currentTime": 1})
    assert block_of(make_event("play_video", course_key="Org/Old/2013", payload=payload)) == "i4x://Org/Old/video/intro"
    assert block_of(make_event("play_video", course_key="ccx-v1:Org+C+R+ccx@3", payload=json.dumps({"id": "v9"}))) \
        == "ccx-block-v1:Org+C+R+ccx@3+type@video+block@v9"
    assert block_of(make_event("play_video", course_key="", payload=json.dumps({"id": "v9"}))) == ""


# -- rebuild ------------------------------------------------------------------------------------------
MODEL_TABLES = ("analytics_learner_activity", "analytics_course_daily", "analytics_enrollment_daily",
                "analytics_block_activity", "analytics_problem_learner", "analytics_video_learner")


def empty_model(clickhouse):
    """As if the events had been stored before the model existed."""
    for table in MODEL_TABLES:
        clickhouse.command(f"TRUNCATE TABLE {clickhouse.qualified(table)}")


def rebuild(*args):
    out = StringIO()
    call_command("aspects_rebuild_analytics", *args, stdout=out)
    return out.getvalue()


def test_rebuild_fills_the_model_from_stored_events_and_twice_changes_nothing(course):
    expected = figures()
    empty_model(course)
    assert analytics.funnel(COURSE, AS_OF).active == 0
    output = rebuild()
    assert "[1/" in output and "ETA" in output and "Analytics model rebuilt" in output
    assert figures() == expected
    rebuild()
    assert figures() == expected


def test_rebuild_of_one_course_since_a_day(course):
    other = "course-v1:Org+Other+2026"
    send(course, [make_event("play_video", user_id=1, course_key=other, time=at(1),
                             payload=json.dumps({"id": "v1", "currentTime": 0}))])
    empty_model(course)
    rebuild("--course", COURSE, "--since", str(AS_OF - timedelta(days=10)))
    # Only events of the last 10 days: eve (7 days ago), fay (6), ada (1); cid (12) is left out.
    assert [w.active_learners for w in analytics.weekly_active_learners(COURSE, AS_OF, 3)] == [0, 1, 2]
    assert course.query("SELECT count() FROM analytics_learner_activity WHERE course_key = {c:String}",
                        {"c": other}) == [(0,)]
    with pytest.raises(CommandError, match="not a course key"):
        rebuild("--course", "nonsense")
    with pytest.raises(CommandError, match="not a date"):
        rebuild("--since", "last week")


def test_rebuild_gives_old_rows_their_block_id(clickhouse):
    seed_sinks(clickhouse)
    rows = [event_row(json.loads(serialize(e)), "tracking.log.1") for e in events()]
    block = EVENT_COLUMNS.index("block_id")
    for row in rows:
        if row[2] in ("play_video", "pause_video", "seek_video", "stop_video", "seq_goto"):
            row[block] = ""  # what the loader stored before browser payloads were understood
    clickhouse.insert("tracking_events", rows, EVENT_COLUMNS)
    assert analytics.video_stats(COURSE) == [] and analytics.section_reach(COURSE)[1].learners == 3
    output = rebuild()
    assert "14 stored events got their block id" in output  # 13 video events and a seq_goto
    assert [(v.video_id, v.viewers) for v in analytics.video_stats(COURSE)] == [(V1, 2), (V2, 2)]
    assert analytics.section_reach(COURSE)[1].learners == 4  # fay's seq_goto now names Intro
    assert clickhouse.query("SELECT count() FROM tracking_events FINAL WHERE block_id = '' AND name = 'play_video'"
                            ) == [(0,)]


def test_interrupted_rebuild_says_how_to_resume_and_resumes(course):
    """A real Ctrl-C (SIGINT) in the middle of a run, then the same command again."""
    import os  # pylint: disable=import-outside-toplevel
    import signal  # pylint: disable=import-outside-toplevel
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel

    from .celery_worker import ctrl_c_restored  # pylint: disable=import-outside-toplevel

    expected = figures()
    empty_model(course)
    command = [sys.executable, "manage.py", "aspects_rebuild_analytics", "--course", COURSE, "--chunk-events", "1"]
    cwd = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          preexec_fn=ctrl_c_restored) as process:
        try:
            wait_until(lambda: course.query("SELECT count() FROM analytics_rebuild_checkpoints")[0][0] >= 1
                       or process.poll() is not None, timeout=60, what="the first chunk")
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=60)
        finally:  # never left running into the next tests (nor waited for forever on the way out)
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, stderr
    assert "To resume, run the same command again:" in stderr
    assert f"aspects_rebuild_analytics --course {COURSE}" in stderr
    finished = course.query("SELECT count() FROM analytics_rebuild_checkpoints")[0][0]
    assert 1 <= finished < 15  # 15 days with events: one chunk each
    output = rebuild("--course", COURSE, "--chunk-events", "1")
    assert f"{finished} finished by an earlier run" in output
    assert figures() == expected
    assert course.query("SELECT count() FROM analytics_rebuild_checkpoints FINAL")[0][0] == 0


def test_course_blocks_in_course_order(course):
    problems = analytics.course_blocks(COURSE, "problem")
    assert [(b.block_id, b.display_name, b.section_name, b.subsection_name, b.graded) for b in problems] == [
        (P1, "Warm-up", "Week 1", "Intro", True), (P2, "Hard one", "Week 1", "Practice", True),
        (P3, "Final check", "Week 2", "Deep dive", True)]
    assert len(analytics.course_blocks(COURSE)) == 14


def test_demo_report_reads_the_model_through_the_query_module(course, tmp_path):
    from .lms.demo.analytics_demo import run_analytics_demo  # pylint: disable=import-outside-toplevel

    learners = [(u, f"learner{u}") for u in range(1, 9)]
    out = StringIO()
    sent = run_analytics_demo(out, COURSE, learners, as_of=AS_OF, log_dir=str(tmp_path), export_dir=tmp_path)
    text = out.getvalue()
    report = analytics.course_report(COURSE, AS_OF, weeks=5, hardest=5, at_risk_limit=10)
    f = report.funnel
    assert sent > 50 and f"{sent} events stored" in text
    assert f"Funnel: {f.enrolled} enrolled → {f.active} active → {f.attempted_problem} attempted" in text
    for problem in report.hardest_problems:
        assert f"{problem.display_name} ({problem.section_name} › {problem.subsection_name})" in text
    assert f"Most abandoned video: {report.most_abandoned_video.display_name}" in text
    assert f"At-risk learners: {report.at_risk_count}" in text
    for learner in report.at_risk:
        assert learner.reasons in text
    exported = (tmp_path / "at-risk-learners.csv").read_text().splitlines()
    assert len(exported) == report.at_risk_count + 1 and f"Exported {report.at_risk_count} learners" in text
    assert all(learner.reasons in "\n".join(exported) for learner in report.at_risk)
    run_analytics_demo(StringIO(), COURSE, learners, as_of=AS_OF, log_dir=str(tmp_path))
    assert analytics.course_report(COURSE, AS_OF, weeks=5, hardest=5, at_risk_limit=10) == report  # rerun: same


def test_hardest_and_most_abandoned_only_count_blocks_still_in_the_course(course):
    gone = P1.replace("@p1", "@removed")
    send(course, [make_event("problem_check", user_id=1, course_key=COURSE, time=at(1), source="server", block=gone,
                             payload={"problem_id": gone, "attempts": 1, "grade": 0, "max_grade": 1,
                                      "success": "incorrect"})])
    assert gone in [p.problem_id for p in analytics.problem_stats(COURSE)]  # still reported in the full list
    assert [p.problem_id for p in analytics.hardest_problems(COURSE, 5)] == [P2, P1, P3]


def test_learner_status_pages(course):
    everyone = analytics.learner_status(COURSE, AS_OF)
    pages = analytics.learner_status(COURSE, AS_OF, limit=3) + analytics.learner_status(COURSE, AS_OF, limit=3,
                                                                                        offset=3)
    assert pages == everyone[:6] and len(analytics.learner_status(COURSE, AS_OF, limit=5, offset=6)) == 2
    # A page past the end is empty (an empty page of user ids must not mean "everyone").
    assert analytics.learner_status(COURSE, AS_OF, limit=5, offset=8) == []
    assert analytics.learner_status(COURSE, AS_OF, limit=100) == everyone


def test_learner_status_pages_list_everyone_once_in_order(course):
    everyone = analytics.learner_status(COURSE, AS_OF)
    for size in (1, 3, 8, 100):
        pages = list(analytics.learner_status_pages(COURSE, AS_OF, size))
        assert [record for page in pages for record in page] == everyone, size
        assert [len(page) for page in pages] == [min(size, 8 - start) for start in range(0, 8, size)]
    # Wrong arguments fail when asked, not at the first page read.
    with pytest.raises(ValueError, match="page_size"):
        analytics.learner_status_pages(COURSE, AS_OF, 0)
    with pytest.raises(ValueError):
        analytics.learner_status_pages("not a course", AS_OF)
    assert list(analytics.learner_status_pages("course-v1:Nobody+None+2026", AS_OF)) == []


def test_a_learner_enrolling_between_pages_is_not_listed_twice_nor_shifts_anyone(course):
    pages = analytics.learner_status_pages(COURSE, AS_OF, 3)
    first = next(pages)
    assert [r.user_id for r in first] == [1, 2, 3]
    # A learner with a smaller user id enrolls while the export runs: OFFSET pages would list
    # learner 3 again on the next page (everyone shifts by one); pages after the last id do not.
    course.insert("course_enrollment", [[100, COURSE, "2026-10-02", True, "audit", "zero", 0,
                                         uuid.uuid4(), "", 10**18, 0]],
                  ["id", "course_key", "created", "is_active", "mode", "username", "user_id", "dump_id",
                   "time_last_dumped", "version", "is_deleted"])
    assert [r.user_id for r in analytics.learner_status(COURSE, AS_OF, limit=3, offset=3)][0] == 3  # the shift
    rest = [r.user_id for page in pages for r in page]
    assert rest == [4, 5, 6, 7, 8]


def _report_in_child(results):
    results.put([r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF)])


def test_reports_still_answer_in_a_forked_worker(course, settings):
    """
    A report asks whether anyone changed on a thread of its own; a worker forked from a process
    that already ran reports (Celery prefork, gunicorn) has none of its parent's threads, and its
    reports must not wait for them.
    """
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0
    sync_settings(course)
    refresh_kept_tables(course, keep_running=False)  # settled: every report asks, on the pool's threads
    assert [r.user_id for r in analytics.at_risk_learners(COURSE, AS_OF)] == [3, 5]  # the parent's threads exist
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_report_in_child, args=(results,))
    child.start()
    try:
        assert results.get(timeout=60) == [3, 5]
    finally:
        child.join(10)
        if child.is_alive():
            child.kill()
