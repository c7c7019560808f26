"""
The per-course analytics queries every consumer uses (dashboards' datasets read the same views,
the staff digest, the demo, a future export API).

Each function takes a course key (validated: a malformed key raises ``ValueError`` before any
query), optional ``as_of`` (a ``date``, default today in UTC) where "recent" matters, and an
optional ``clickhouse`` connection (default: the plugin's). Values always travel as server-side
parameters. The SQL of each metric lives once, in the model's views
(``clickhouse/migrations/0030``-``0032``); this module picks the courses, a day and the settings.

The metrics a site-wide job needs for every course (the staff digest) also come per batch of
courses: ``<metric>_by_course(course_keys, ...)`` answers ``{course_key: answer}`` with one query
for the whole batch, where a loop over courses would pay ClickHouse's per-query planning once per
course. The one-course function is that batch of one.
"""

import gc
import os
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from itertools import repeat

from django.conf import settings

from ..clickhouse import get_clickhouse
from ..platform import course_key_from_text
from .records import (
    AtRiskLearner,
    CourseBlock,
    CourseReport,
    DailyActive,
    DropoffPoint,
    EnrollmentDay,
    EnrollmentWeek,
    Funnel,
    GradeBucket,
    Grades,
    LearnerEngagement,
    LearnerIdentity,
    LearnerProblem,
    LearnerStatus,
    LearnerVideo,
    ModeCount,
    ProblemStats,
    SectionReach,
    VideoStats,
    WeeklyActive,
)

_STATUS_VIEW = (
    "analytics_learner_status_for(course_keys = {course_keys:Array(String)}, user_ids = {user_ids:Array(Int64)}, "
    "as_of = {as_of:Date}, "
    "inactive_days = {inactive_days:UInt32}, default_passing_grade = {default_passing_grade:Float64})"
)
_ENROLLED = (
    "(SELECT course_key, groupBitmapState(toUInt64(user_id)) AS enrolled FROM course_enrollment FINAL "
    "WHERE course_key IN {course_keys:Array(String)} GROUP BY course_key)"
)


def _course(course_key):
    """The course key as text; ValueError for anything that is not one."""
    return str(course_key_from_text(course_key))


def _courses(course_keys):
    """Course keys as text, each validated, duplicates dropped (a lone string is a list of one)."""
    keys = [course_keys] if isinstance(course_keys, str) or not hasattr(course_keys, "__iter__") else course_keys
    return list(dict.fromkeys(_course(key) for key in keys))


def _by_course(keys, rows, make):
    """``{course_key: [make(row), ...]}`` for every key asked (an empty list where no row came back)."""
    found = {key: [] for key in keys}
    for row in rows:
        found[row.pop("course_key")].append(make(row))
    return found


def _day(as_of):
    if as_of is None:
        return datetime.now(timezone.utc).date()
    if isinstance(as_of, datetime):
        return as_of.astimezone(timezone.utc).date() if as_of.tzinfo else as_of.date()
    if isinstance(as_of, date):
        return as_of
    raise ValueError(f"as_of must be a date, not {as_of!r}")


def _params(course_keys, as_of=None, **extra):
    """Server-side parameters: the courses, the day and the at-risk settings."""
    return {
        "course_keys": _courses(course_keys),
        "as_of": _day(as_of),
        "inactive_days": int(settings.ASPECTS_AT_RISK_INACTIVE_DAYS),
        "default_passing_grade": float(settings.ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE),
        "user_ids": [],
        **extra,
    }


# A parameterized view called with each parameter passed on under its own name (inside a view's
# stored SELECT: `database.analytics_x_for`(...), quoted whole).
_VIEW_CALL = re.compile(r"`?(?:\b\w+\.)?\b(analytics_\w+_for)`?\(((?:[^()]|\([^()]*\))*)\)")
_PASSED_ON = re.compile(r"\s*(\w+)\s*=\s*\{\1:[\w()]+\}\s*")
_NESTING = 6  # views calling views: video_stats_for → learner_videos_for → video_watch_current_for → ...


def _inlined(clickhouse, sql, settled):
    """
    ``sql`` as sent: each call of a parameterized view that passes its parameters on unchanged is
    replaced by the view's SELECT (same SQL, same server-side parameters: ClickHouse analyzes a
    view's query again for every call, and planning nested calls cost more than running them),
    and so on for the views that SELECT calls. A call passing anything else stays a call. The SQL
    still lives in the views. A kept table's reader (``<stem>current_for``) becomes its kept rows
    alone (``<stem>kept_for``) where ``settled(stem, names of the parameters passed on)`` says
    nobody changed.
    """

    def inline(call):
        name, args = call.group(1), call.group(2)
        passed_on = [_PASSED_ON.fullmatch(arg) for arg in args.split(",")]
        if not all(passed_on):
            return call.group(0)
        if name.endswith("_current_for"):
            stem = name.removesuffix("current_for")
            if settled(stem, tuple(sorted(match.group(1) for match in passed_on))):
                name = f"{stem}kept_for"
        return f"({clickhouse.view_query(name)})"

    for _ in range(_NESTING):
        sql, count = _VIEW_CALL.subn(inline, sql)
        if not count:
            break
    return sql


# Asks whether anyone changed, next to the report's own query (see _run): one pool per process
# (a pool's threads do not survive a fork, e.g. into a Celery or gunicorn worker).
_checks = {}  # os.getpid() → ThreadPoolExecutor


def _checks_pool():
    pool = _checks.get(os.getpid())
    if pool is None:
        _checks.clear()
        pool = _checks.setdefault(os.getpid(), ThreadPoolExecutor(max_workers=4,
                                                                  thread_name_prefix="aspects-analytics-changed"))
    return pool


# How long an answer "somebody changed" is trusted: a course with activity stays so for minutes
# (ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS after it), and reading its kept rows first would be wasted.
_CHANGED_TRUSTED_SECS = 15
_recently_changed = {}  # (view stem, parameters passed on, database, courses, learners) → time.monotonic()


def forget_changes():
    """Forget every "somebody changed" answer this process trusts: the next reports ask again."""
    _recently_changed.clear()


def _run(clickhouse, sql, params, execute):
    """
    ``execute(sql as sent)``'s answer. A kept table's reader (``*_current_for``: its kept rows, and
    a fresh computation for the learners changed since the last refresh) is read as its kept rows
    alone (``*_kept_for``) while, at the same time, a query of its own asks whether anyone changed
    (``*_changed_for``); when somebody did, the report runs again with the fresh half. A settled
    course (nobody changed: the usual case) so costs the longer of the two queries rather than
    both, and ClickHouse never plans the fresh computation, which took longer to plan than the
    rest of a report took to run. Exact all the same: a learner unchanged when asked had a complete
    kept row then, and a refresh in between only writes newer rows, which FINAL takes. Where
    somebody changed in the last 15 seconds (a busy course), the report reads ``*_current_for`` at
    once, without asking.
    """
    scope = (clickhouse.database, tuple(params.get("course_keys", ())), tuple(params.get("user_ids", ())))
    now = time.monotonic()
    checks = {}  # (view stem, parameters passed on) → the pending answer (did nobody change?), or None: known

    def ask(stem, names):
        key = (stem, names)
        if key not in checks:
            if now - _recently_changed.get((*key, *scope), -_CHANGED_TRUSTED_SECS) < _CHANGED_TRUSTED_SECS:
                checks[key] = None
            else:
                changed_sql = f"SELECT count() = 0 FROM ({clickhouse.view_query(f'{stem}changed_for')})"
                checks[key] = _checks_pool().submit(clickhouse.query, changed_sql, params)
        return checks[key] is not None

    answer = execute(_inlined(clickhouse, sql, ask))
    settled = {key: check.result()[0][0] for key, check in checks.items() if check is not None}
    if all(settled.values()):
        return answer
    if len(_recently_changed) > 1000:
        _recently_changed.clear()
    _recently_changed.update({(*key, *scope): now for key, nobody in settled.items() if not nobody})
    return execute(_inlined(clickhouse, sql, lambda stem, names: settled.get((stem, names), False)))


def _rows(clickhouse, sql, params):
    clickhouse = clickhouse or get_clickhouse()
    return _run(clickhouse, sql, params, lambda sent: clickhouse.query_dicts(sent, params))


def _utc(value):
    """Naive datetimes from the driver are UTC; say so."""
    return value.replace(tzinfo=timezone.utc) if isinstance(value, datetime) and value.tzinfo is None else value


def _aware(column):
    """A column of datetimes, aware (UTC) — as it came when its type names the zone."""
    first = next((value for value in column if value is not None), None)
    return column if first is None or first.tzinfo else [_utc(value) for value in column]


@contextmanager
def _collector_paused():
    """
    Python's cyclic garbage collector off while a list of records is built: tens of thousands of
    new objects set off full collections of the whole process, which took longer than building
    them (27,000 at-risk learners: 90 ms → 25 ms). Records hold no cycles; it is back on after.
    """
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            if not gc.get_freeze_count():
                # The new records straight to the oldest generation: else the first young collection
                # after enable() visits every one of them (50,000 statuses: 23 ms), to learn what
                # their refcounts free anyway. Skipped where the process froze objects itself
                # (unfreeze() would let go of those too).
                gc.freeze()
                gc.unfreeze()
            gc.enable()


def _records(cls, clickhouse, sql, params, utc=(), flags=(), by_course=None):
    """
    The records ``cls`` (named tuples) of a query's rows, its columns exactly the record's fields
    (in any order), with the ``utc`` datetimes made aware and the ``flags`` made bools; with
    ``by_course`` (the keys asked), ``{course_key: [records]}`` from a ``course_key`` column.
    Learner lists of a MOOC run to 50,000 rows: the result is read column by column, converted a
    column at a time, and the records made in one pass of C code (``tuple.__new__`` over the
    rows), without a Python call per row (a dict per row, as dataclasses have, cost 65 ms more).
    """
    clickhouse = clickhouse or get_clickhouse()
    names, columns = _run(clickhouse, sql, params, lambda sent: clickhouse.query_columns(sent, params))
    if not names:  # no rows (the driver then names no columns either)
        return [] if by_course is None else {key: [] for key in by_course}
    by_name = dict(zip(names, columns))
    keys = by_name.pop("course_key") if by_course is not None else None
    if set(by_name) != set(cls._fields):
        raise TypeError(f"{cls.__name__} has fields {sorted(cls._fields)}, the query gave {sorted(by_name)}")
    columns = [_aware(by_name[name]) if name in utc else list(map(bool, by_name[name])) if name in flags
               else by_name[name] for name in cls._fields]
    with _collector_paused():
        records = list(map(tuple.__new__, repeat(cls), zip(*columns)))
    if keys is None:
        return records
    if len(by_course) == 1:  # one course asked (every per-course report): its rows are all of them
        return {by_course[0]: records}
    found = {key: [] for key in by_course}
    for key, record in zip(keys, records):
        found[key].append(record)
    return found


def _windows(as_of, weeks):
    """7-day windows ending on ``as_of``, oldest first: ``[(index, start, end)]`` (index 0 = the last)."""
    return [(i, as_of - timedelta(days=7 * i + 6), as_of - timedelta(days=7 * i)) for i in reversed(range(weeks))]


# -- enrollment ------------------------------------------------------------------------------------
def funnels_by_course(course_keys, as_of=None, clickhouse=None):
    """``{course_key: Funnel}``: enrolled → active → attempted a problem → passing, among active enrollments."""
    params = _params(course_keys, as_of)
    found = _by_course(params["course_keys"], _rows(clickhouse, (
        "SELECT course_key, countIf(is_active) AS enrolled, countIf(is_active AND active_days > 0) AS active, "
        "countIf(is_active AND problems_attempted > 0) AS attempted_problem, "
        f"countIf(is_active AND is_passing) AS passing FROM {_STATUS_VIEW} GROUP BY course_key"), params),
        lambda row: Funnel(**row))
    return {key: rows[0] if rows else Funnel(0, 0, 0, 0) for key, rows in found.items()}


def funnel(course_key, as_of=None, clickhouse=None):
    """Enrolled → active → attempted a problem → passing, all among current active enrollments."""
    return _one(funnels_by_course, course_key, as_of, clickhouse=clickhouse)


def enrollment_by_mode(course_key, clickhouse=None):
    """Current enrollments per mode."""
    return [ModeCount(**r) for r in _rows(clickhouse, (
        "SELECT mode, active_learners, learners FROM analytics_enrollment_modes "
        "WHERE course_key IN {course_keys:Array(String)} ORDER BY mode"), _params(course_key))]


def enrollment_days(course_key, start, end, clickhouse=None):
    """Enrollments, unenrollments and mode changes per day from ``start`` to ``end`` (days without any left out)."""
    return [EnrollmentDay(**r) for r in _rows(clickhouse, (
        "SELECT day, enrollments, unenrollments, mode_changes FROM analytics_enrollment_changes "
        "WHERE course_key IN {course_keys:Array(String)} AND day BETWEEN {start:Date} AND {end:Date} ORDER BY day"),
        _params(course_key, start=_day(start), end=_day(end)))]


def enrollment_weeks_by_course(course_keys, as_of=None, weeks=2, clickhouse=None):
    """
    ``{course_key: [EnrollmentWeek]}``: enrollment changes per 7-day window, oldest first, the last
    ending on ``as_of``.
    """
    params = _params(course_keys, as_of, weeks=int(weeks))
    found = _by_course(params["course_keys"], _rows(clickhouse, (
        "SELECT course_key, intDiv(toUInt32({as_of:Date}) - toUInt32(day), 7) AS w, "
        "groupBitmapMergeIf(learners, action = 'activated') AS enrollments, "
        "groupBitmapMergeIf(learners, action = 'deactivated') AS unenrollments, "
        "groupBitmapMergeIf(learners, action = 'mode_changed') AS mode_changes "
        "FROM analytics_enrollment_daily WHERE course_key IN {course_keys:Array(String)} "
        "AND day <= {as_of:Date} AND day > {as_of:Date} - 7 * {weeks:UInt32} GROUP BY course_key, w"), params),
        lambda row: row)
    windows = _windows(params["as_of"], params["weeks"])
    return {key: [EnrollmentWeek(start, end, *(int(by_week.get(i, {}).get(k, 0))
                                               for k in ("enrollments", "unenrollments", "mode_changes")))
                  for i, start, end in windows]
            for key, by_week in ((key, {r["w"]: r for r in rows}) for key, rows in found.items())}


def enrollment_weeks(course_key, as_of=None, weeks=2, clickhouse=None):
    """Enrollment changes per 7-day window, oldest first; the last window ends on ``as_of``."""
    return _one(enrollment_weeks_by_course, course_key, as_of, weeks, clickhouse=clickhouse)


# -- engagement ------------------------------------------------------------------------------------
def daily_active_learners(course_key, start, end, clickhouse=None):
    """Enrolled learners active per day from ``start`` to ``end`` (every day, 0 when nobody was)."""
    params = _params(course_key, start=_day(start), end=_day(end))
    found = {r["day"]: r["active_learners"] for r in _rows(clickhouse, (
        "SELECT day, active_learners FROM analytics_daily_activity_for(course_keys = {course_keys:Array(String)}) "
        "WHERE day BETWEEN {start:Date} AND {end:Date}"), params)}
    days = (params["end"] - params["start"]).days + 1
    return [DailyActive(d, int(found.get(d, 0))) for d in (params["start"] + timedelta(days=i) for i in range(days))]


def weekly_active_by_course(course_keys, as_of=None, weeks=8, clickhouse=None):
    """
    ``{course_key: [WeeklyActive]}``: enrolled learners active per 7-day window, oldest first, the
    last ending on ``as_of``.
    """
    params = _params(course_keys, as_of, weeks=int(weeks))
    found = _by_course(params["course_keys"], _rows(clickhouse, (
        "SELECT d.course_key AS course_key, intDiv(toUInt32({as_of:Date}) - toUInt32(d.day), 7) AS w, "
        "bitmapCardinality(bitmapAnd(groupBitmapMergeState(d.learners), any(e.enrolled))) AS active_learners "
        f"FROM analytics_course_daily AS d INNER JOIN {_ENROLLED} AS e ON e.course_key = d.course_key "
        "WHERE d.course_key IN {course_keys:Array(String)} AND d.day <= {as_of:Date} "
        "AND d.day > {as_of:Date} - 7 * {weeks:UInt32} GROUP BY d.course_key, w"), params),
        lambda row: (row["w"], row["active_learners"]))
    windows = _windows(params["as_of"], params["weeks"])
    return {key: [WeeklyActive(start, end, int(dict(rows).get(i, 0))) for i, start, end in windows]
            for key, rows in found.items()}


def weekly_active_learners(course_key, as_of=None, weeks=8, clickhouse=None):
    """Enrolled learners active in each 7-day window, oldest first; the last window ends on ``as_of``."""
    return _one(weekly_active_by_course, course_key, as_of, weeks, clickhouse=clickhouse)


def learner_engagement(course_key, clickhouse=None, limit=None, offset=0):
    """
    Per enrolled learner with any activity, by user id: first and last activity, active days,
    distinct events; a page of ``limit`` rows from ``offset`` when given.
    """
    return _records(LearnerEngagement, clickhouse, (
        "SELECT user_id, first_activity_at, last_activity_at, active_days, events "
        "FROM analytics_learner_engagement_for(course_keys = {course_keys:Array(String)}, "
        "user_ids = {user_ids:Array(Int64)}) ORDER BY user_id "
        "LIMIT {limit:UInt64} OFFSET {offset:UInt64}"),
        _params(course_key, limit=_ALL if limit is None else int(limit), offset=int(offset)),
        utc=("first_activity_at", "last_activity_at"))


def course_blocks(course_key, block_type=None, clickhouse=None):
    """The course's published blocks in course order (only those of ``block_type`` when given)."""
    return [CourseBlock(**{**r, "graded": bool(r["graded"])}) for r in _rows(clickhouse, (
        "SELECT block_id, block_type, display_name, course_order, section_number, subsection_number, unit_number, "
        "graded, section_name, subsection_name "
        "FROM analytics_course_blocks_for(course_keys = {course_keys:Array(String)}) "
        "WHERE {block_type:Nullable(String)} IS NULL OR block_type = {block_type:Nullable(String)} "
        "ORDER BY course_order"), _params(course_key, block_type=block_type))]


def section_reach(course_key, clickhouse=None):
    """Sections and subsections in course order, with the enrolled learners who reached each."""
    return [SectionReach(**r) for r in _rows(clickhouse, (
        "SELECT section_number, subsection_number, level, block_id, section_name, subsection_name, "
        "course_order, learners FROM analytics_section_reach_for(course_keys = {course_keys:Array(String)}) "
        "ORDER BY course_order, subsection_number"), _params(course_key))]


# -- problems --------------------------------------------------------------------------------------
_PROBLEM_FIELDS = ("problem_id, display_name, course_order, section_number, subsection_number, section_name, "
                   "subsection_name, learners, attempts, first_attempt_success_rate, average_score, solved_learners")


def _block_stats(course_keys, view, fields, block_id, record, clickhouse):
    """``{course_key: [record]}`` from a per-block statistics view, each course's blocks in course order."""
    params = _params(course_keys)
    return _by_course(params["course_keys"], _rows(clickhouse, (
        f"SELECT course_key, {fields} FROM {view}(course_keys = {{course_keys:Array(String)}}) "
        f"ORDER BY course_key, course_order, {block_id}"), params), lambda row: record(**row))


def problem_stats_by_course(course_keys, clickhouse=None):
    """``{course_key: [ProblemStats]}``: every problem learners submitted, in course order."""
    return _block_stats(course_keys, "analytics_problem_stats_for", _PROBLEM_FIELDS, "problem_id", ProblemStats,
                        clickhouse)


def problem_stats(course_key, clickhouse=None):
    """Every problem learners submitted, in course order."""
    return _one(problem_stats_by_course, course_key, clickhouse=clickhouse)


def hardest_problems_by_course(course_keys, limit=3, min_learners=1, clickhouse=None):
    """
    ``{course_key: [ProblemStats]}``: the problems with the lowest first-attempt success rate (then
    lowest average score), among those at least ``min_learners`` learners submitted and still in
    the course (when ClickHouse knows the course's blocks): :func:`problem_stats`, ranked.
    """
    return {key: _ranked(stats, lambda p: p.learners >= min_learners,
                         lambda p: (p.first_attempt_success_rate, p.average_score, p.course_order, p.problem_id),
                         limit)
            for key, stats in problem_stats_by_course(course_keys, clickhouse).items()}


def hardest_problems(course_key, limit=3, min_learners=1, clickhouse=None):
    """The course's ``limit`` hardest problems: :func:`hardest_problems_by_course` for one course."""
    return _one(hardest_problems_by_course, course_key, limit, min_learners, clickhouse=clickhouse)


def _ranked(stats, keep, order, limit):
    """The first ``limit`` of ``stats`` kept, by ``order``; blocks no longer in the course left out (when known)."""
    stats = [s for s in stats if keep(s)]
    if any(s.course_order for s in stats):
        stats = [s for s in stats if s.course_order]
    return sorted(stats, key=order)[:limit]


def learner_problems(course_key, user_id=None, clickhouse=None):
    """Per learner and problem (one learner's when ``user_id`` is given)."""
    return _records(LearnerProblem, clickhouse, (
        "SELECT user_id, problem_id, attempts, best_score, solved, first_attempt_correct, last_score "
        "FROM analytics_learner_problems_for(course_keys = {course_keys:Array(String)}) "
        "WHERE {user_id:Nullable(Int64)} IS NULL OR user_id = {user_id:Nullable(Int64)} "
        "ORDER BY user_id, problem_id"), _params(course_key, user_id=user_id),
        flags=("solved", "first_attempt_correct"))


# -- videos ----------------------------------------------------------------------------------------
_VIDEO_FIELDS = ("video_id, display_name, course_order, section_number, subsection_number, section_name, "
                 "subsection_name, viewers, plays, duration, average_watched_share, completed_viewers, "
                 "abandonment_rate")


def video_stats_by_course(course_keys, clickhouse=None):
    """``{course_key: [VideoStats]}``: every video learners played, in course order."""
    return _block_stats(course_keys, "analytics_video_stats_for", _VIDEO_FIELDS, "video_id", VideoStats, clickhouse)


def video_stats(course_key, clickhouse=None):
    """Every video learners played, in course order."""
    return _one(video_stats_by_course, course_key, clickhouse=clickhouse)


def most_abandoned_videos_by_course(course_keys, limit=1, min_viewers=1, clickhouse=None):
    """
    ``{course_key: [VideoStats]}``: the videos with the highest abandonment rate (then lowest
    average share watched), among those at least ``min_viewers`` learners played and still in the
    course: :func:`video_stats`, ranked.
    """
    return {key: _ranked(stats, lambda v: v.viewers >= min_viewers,
                         lambda v: (-v.abandonment_rate, v.average_watched_share, v.course_order, v.video_id),
                         limit)
            for key, stats in video_stats_by_course(course_keys, clickhouse).items()}


def most_abandoned_videos(course_key, limit=1, min_viewers=1, clickhouse=None):
    """The course's ``limit`` most abandoned videos: :func:`most_abandoned_videos_by_course` for one course."""
    return _one(most_abandoned_videos_by_course, course_key, limit, min_viewers, clickhouse=clickhouse)


def learner_videos(course_key, user_id=None, clickhouse=None):
    """Per learner and video: plays and merged watched segments (one learner's when ``user_id`` is given)."""
    return [LearnerVideo(**{**r, "segments": tuple(tuple(s) for s in r["segments"])})
            for r in _rows(clickhouse, (
                "SELECT user_id, video_id, plays, duration, watched_seconds, watched_share, segments "
                "FROM analytics_learner_videos_for(course_keys = {course_keys:Array(String)}) "
                "WHERE {user_id:Nullable(Int64)} IS NULL OR user_id = {user_id:Nullable(Int64)} "
                "ORDER BY user_id, video_id"), _params(course_key, user_id=user_id))]


def video_dropoff(course_key, video_id, clickhouse=None):
    """Viewers per twentieth of a video (20 points, 0 where nobody watched that part)."""
    found = {r["bucket"]: r["viewers"] for r in _rows(clickhouse, (
        "SELECT bucket, viewers FROM analytics_video_dropoff_for(course_keys = {course_keys:Array(String)}) "
        "WHERE video_id = {video_id:String}"), _params(course_key, video_id=str(video_id)))}
    return [DropoffPoint(b, b / 20, int(found.get(b, 0))) for b in range(20)]


# -- grades ----------------------------------------------------------------------------------------
def grades(course_key, clickhouse=None):
    """Distribution of current grades in 10% buckets, passing rate and letter grades."""
    params = _params(course_key)
    found = {r["bucket"]: r for r in _rows(clickhouse, (
        "SELECT bucket, learners, passing_learners FROM analytics_grade_distribution "
        "WHERE course_key IN {course_keys:Array(String)}"), params)}
    buckets = tuple(GradeBucket(b / 10, int(found.get(b, {}).get("learners", 0)),
                                int(found.get(b, {}).get("passing_learners", 0))) for b in range(10))
    letters = tuple((r["letter_grade"], r["learners"]) for r in _rows(clickhouse, (
        "SELECT letter_grade, learners FROM analytics_letter_grades WHERE course_key IN {course_keys:Array(String)} "
        "ORDER BY letter_grade"), params))
    graded = sum(b.learners for b in buckets)
    passing = sum(b.passing_learners for b in buckets)
    return Grades(graded, passing, passing / graded if graded else 0.0, buckets, letters)


def passing_learners(course_key, clickhouse=None):
    """Learners whose current grade is passing."""
    return grades(course_key, clickhouse).passing


# -- learner status and at-risk --------------------------------------------------------------------
_STATUS_FIELDS = LearnerStatus._fields
# How each list's columns become its records' values (see _records); the benchmark reads a stored
# answer back the same way, to tell the cost of a list's transfer and records from the model's.
STATUS_CONVERSIONS = {"utc": ("first_activity_at", "last_activity_at"),
                      "flags": ("is_active", "engaged", "is_passing", "at_risk")}
AT_RISK_CONVERSIONS = {"utc": ("last_activity_at",)}
_ALL = 2**63 - 1  # LIMIT when there is none


def learner_status(course_key, as_of=None, clickhouse=None, limit=None, offset=0):
    """
    Every enrollment of the course (active or not) with its status as of ``as_of``, by user id;
    a page of ``limit`` rows from ``offset`` when given (a MOOC has tens of thousands). One query
    either way: a learner's status is one kept row, so a page reads the course's rows in order.
    """
    return _status_records(_params(course_key, as_of, limit=_ALL if limit is None else int(limit),
                                   offset=int(offset)), "", clickhouse)


def learner_status_pages(course_key, as_of=None, page_size=10_000, clickhouse=None):
    """
    Every enrollment's status as :func:`learner_status` gives it, ``page_size`` records at a time
    (a list per page, by user id): for exports, where a MOOC's tens of thousands of learners in one
    list cost a bulk transfer and its memory at once. Each page is one query starting after the
    last user id of the page before (not an OFFSET), so learners who enroll or whose rows change
    meanwhile never shift a page: nobody is listed twice or skipped. ``as_of`` is fixed for every
    page (an export running past midnight stays on one day).
    """
    page_size = int(page_size)
    if page_size < 1:
        raise ValueError(f"page_size must be at least 1, not {page_size}")
    # Checked here, not at the first page: a generator's body only runs when it is first read.
    return _status_pages(_params(course_key, as_of, limit=page_size, offset=0, after=-(2**63)), clickhouse)


def _status_pages(params, clickhouse):
    page_size = params["limit"]
    while True:
        page = _status_records(params, "WHERE user_id > {after:Int64} ", clickhouse)
        if page:
            yield page
        if len(page) < page_size:
            return
        params["after"] = page[-1].user_id


def _status_records(params, where, clickhouse):
    """The learner status records the parameters and ``where`` (a condition on the view's columns) pick."""
    return _records(LearnerStatus, clickhouse, (
        f"SELECT {', '.join(_STATUS_FIELDS)} FROM {_STATUS_VIEW} {where}ORDER BY user_id "
        "LIMIT {limit:UInt64} OFFSET {offset:UInt64}"), params, **STATUS_CONVERSIONS)


def at_risk_by_course(course_keys, as_of=None, limit=None, clickhouse=None):
    """
    ``{course_key: [AtRiskLearner]}``: each course's at-risk learners (its first ``limit`` when
    given), longest inactive first, then lowest grade (not graded yet last).
    """
    params = _params(course_keys, as_of, limit=_ALL if limit is None else int(limit))
    # LIMIT BY sorts every at-risk learner of the batch; a plain LIMIT keeps only the first ones
    # while it sorts (a MOOC's first 100 of 27,000: 25 ms less), so one course gets that.
    limit_by = "LIMIT {limit:UInt64}" if len(params["course_keys"]) == 1 else "LIMIT {limit:UInt64} BY course_key"
    return _records(AtRiskLearner, clickhouse, (
        "SELECT course_key, user_id, enrollment_mode, last_activity_at, last_active_day, days_inactive, "
        f"percent_grade, passing_grade, grade_status, at_risk_reasons AS reasons FROM {_STATUS_VIEW} WHERE at_risk "
        f"ORDER BY course_key, days_inactive DESC, percent_grade ASC NULLS LAST, user_id {limit_by}"),
        params, **AT_RISK_CONVERSIONS, by_course=params["course_keys"])


def at_risk_learners(course_key, as_of=None, limit=None, clickhouse=None):
    """At-risk learners, longest inactive first, then lowest grade (not graded yet last)."""
    return _one(at_risk_by_course, course_key, as_of, limit, clickhouse=clickhouse)


def at_risk_counts(course_keys, as_of=None, clickhouse=None):
    """``{course_key: how many learners are at risk}``."""
    params = _params(course_keys, as_of)
    found = _by_course(params["course_keys"], _rows(clickhouse, (
        f"SELECT course_key, countIf(at_risk) AS n FROM {_STATUS_VIEW} GROUP BY course_key"), params),
        lambda row: int(row["n"]))
    return {key: sum(rows) for key, rows in found.items()}


def at_risk_count(course_key, as_of=None, clickhouse=None):
    """How many learners are at risk."""
    return _one(at_risk_counts, course_key, as_of, clickhouse=clickhouse)


def learner_identities(course_key, user_ids, clickhouse=None):
    """
    ``{user_id: LearnerIdentity}`` for learners of the course, from the PII sink tables; empty
    unless ASPECTS_ENABLE_PII is on (the dashboards and the digest show user ids otherwise).
    """
    if not getattr(settings, "ASPECTS_ENABLE_PII", False) or not user_ids:
        return {}
    rows = _rows(clickhouse, (
        "SELECT e.user_id AS user_id, e.username AS username, p.name AS name, p.email AS email FROM "
        "(SELECT toInt64(user_id) AS user_id, username FROM course_enrollment FINAL "
        " WHERE course_key IN {course_keys:Array(String)} AND user_id IN {ids:Array(Int64)}) AS e "
        "LEFT JOIN (SELECT toInt64(user_id) AS user_id, name, email FROM user_profile FINAL "
        " WHERE user_id IN {ids:Array(Int64)}) AS p ON p.user_id = e.user_id"),
        _params(course_key, ids=[int(u) for u in user_ids]))
    return {r["user_id"]: LearnerIdentity(**r) for r in rows}


# -- everything at once ----------------------------------------------------------------------------
def course_reports(course_keys, as_of=None, weeks=8, hardest=5, at_risk_limit=10, clickhouse=None):
    """
    ``{course_key: CourseReport}``: each course's funnel, weekly active learners, hardest problems,
    most abandoned video and at-risk learners, in six queries whatever the number of courses.
    """
    keys, as_of = _courses(course_keys), _day(as_of)
    funnels = funnels_by_course(keys, as_of, clickhouse)
    active = weekly_active_by_course(keys, as_of, weeks, clickhouse)
    problems = hardest_problems_by_course(keys, hardest, clickhouse=clickhouse)
    videos = most_abandoned_videos_by_course(keys, 1, clickhouse=clickhouse)
    counts = at_risk_counts(keys, as_of, clickhouse)
    at_risk = at_risk_by_course(keys, as_of, at_risk_limit, clickhouse)
    return {key: CourseReport(
        course_key=key, as_of=as_of, funnel=funnels[key], weekly_active=tuple(active[key]),
        hardest_problems=tuple(problems[key]), most_abandoned_video=videos[key][0] if videos[key] else None,
        at_risk_count=counts[key], at_risk=tuple(at_risk[key]),
    ) for key in keys}


def course_report(course_key, as_of=None, weeks=8, hardest=5, at_risk_limit=10, clickhouse=None):
    """The funnel, weekly active learners, hardest problems, most abandoned video and at-risk learners."""
    return _one(course_reports, course_key, as_of, weeks, hardest, at_risk_limit, clickhouse=clickhouse)


def _one(by_course, course_key, *args, **kwargs):
    """A ``*_by_course`` function's answer for one course."""
    key = _course(course_key)
    return by_course([key], *args, **kwargs)[key]
