"""
Analytics-model benchmark: prints figures, asserts nothing.

Builds a site in ClickHouse — by default 200 courses, 100,000 learners and 20,000,000 tracking
events over 90 days, course 0 a MOOC holding 5,000,000 of those events and 50,000 learners — with
its sink state (enrollments, grades, course blocks), the events generated server-side and inserted
into ``tracking_events`` in slices, so the materialized views fill the model exactly as they do
for live events. Then, side by side in one run:

* every per-course query of ``platform_plugin_aspects.analytics``, on a typical course and on the
  MOOC: p50/p95 latency on the model, next to the same answer computed directly from
  ``tracking_events`` and the sink tables (the baseline), and whether both answers agree (for
  the learner lists, every column of every record);
* ``load_tracking_log`` throughput with the model's materialized views, against without them
  (same generated log, alternating runs);
* the model's storage against ``tracking_events``;
* the largest ``memory_usage`` any of those queries reported;
* last, each target the model was built to (p95, speed-up on the MOOC, the loader's share), met
  or not on this machine.

Run a reduced size first on a shared machine::

    .venv/bin/python benchmarks/analytics.py --scale 0.1
    .venv/bin/python benchmarks/analytics.py                 # the full default size

A ClickHouse of its own is started in ``var/bench-analytics`` (or use ``--url``); the generated
site is kept there and reused by the next run of the same size (``--regenerate`` to rebuild it).
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")
django.setup()

# pylint: disable=wrong-import-position  (the plugin's modules need Django set up first)
from django.conf import settings  # noqa: E402

from benchmarks.stats import percentile  # noqa: E402
from devstack.local_clickhouse import LocalClickHouse  # noqa: E402
from platform_plugin_aspects import analytics  # noqa: E402
from platform_plugin_aspects.analytics import queries  # noqa: E402
from platform_plugin_aspects.analytics.model import refresh_kept_tables, stop_refreshes, sync_settings  # noqa: E402
from platform_plugin_aspects.clickhouse import ClickHouse, ConnectionConfig  # noqa: E402
from platform_plugin_aspects.clickhouse.migrate import MigrationRunner  # noqa: E402
from platform_plugin_aspects.tracking.loader import LogLoader  # noqa: E402
from tests.tracking_factory import activity, log_line  # noqa: E402

BOOKKEEPING = r"match(name, '^edx\\.(course\\.enrollment|grades|course\\.grade|certificate)\\.')"
HOME = r"(match(name, '^/courses/[^/]+/((course|info|home)/?)?$') OR startsWith(name, 'edx.course.home.'))"
CHECK = "name = 'problem_check' AND event_source = 'server' AND block_id != ''"
VIDEO_NAMES = "('play_video', 'pause_video', 'seek_video', 'stop_video', 'complete_video')"
MODEL_TABLES = ("analytics_learner_activity", "analytics_course_daily", "analytics_enrollment_daily",
                "analytics_block_activity", "analytics_problem_learner", "analytics_video_learner",
                "analytics_video_watch", "analytics_learner_rollup")


class Measured(ClickHouse):
    """
    The plugin's client, keeping the server's summary (elapsed, memory_usage) of every query
    (``wait_end_of_query``: the summary header then covers the whole query, not its first block).
    """

    SETTINGS = {"wait_end_of_query": 1}

    def __init__(self, config):
        super().__init__(config)
        self.summaries = []

    def _keep(self, result):
        self.summaries.append(dict(result.summary or {}))
        return result

    def _select(self, client, sql, parameters, **options):
        return self._keep(client.query(sql, parameters=parameters or {}, settings=self.SETTINGS, **options))

    def query_columns(self, sql, parameters=None):
        self.last_columns_query = (sql, parameters)  # what a list's records were read with (see bench_floor)
        return super().query_columns(sql, parameters)


# -- the site ---------------------------------------------------------------------------------------------
def site_params(args):
    other_learners = args.learners - args.mooc_learners
    return {
        "courses": args.courses, "mooc_events": args.mooc_events, "mooc_learners": args.mooc_learners,
        "other_learners": other_learners,
        "per_course": max(1, round(other_learners * 2 / max(args.courses - 1, 1))),
        "shift": max(1, other_learners // max(args.courses - 1, 1)),
        "span": args.days * 86400, "start": args.start,
    }


def course_key_sql(c):
    return f"concat('course-v1:Org', toString({c} % 10), '+C', toString({c}), '+2026')"


def block_sql(c, kind, index):
    return f"concat('block-v1:Org', toString({c} % 10), '+C', toString({c}), '+2026+type@{kind}+block@', {index})"


# One row per event; kind (per hundred): 0-14 play, 15-29 pause, 30-34 seek, 35-39 stop, 40-59 problem
# check, 60-79 seq_goto, 80-96 courseware page, 97 course home, 98-99 enrollment.
EVENTS_SQL = f"""
INSERT INTO tracking_events (event_id, time, name, event_type, event_source, user_id, username, course_key, org,
    block_id, session, page, referer, agent, ip, host, context, event, loaded_from)
SELECT
    reinterpretAsUUID(sipHash128(number, 'bench')) AS event_id, t AS time, n AS name, n AS event_type,
    if(kind < 40 OR (kind >= 60 AND kind < 80), 'browser', 'server') AS event_source, u AS user_id, '' AS username,
    ck AS course_key, concat('Org', toString(c % 10)) AS org,
    multiIf(kind < 40, {block_sql('c', 'video', "concat('v', toString(v))")},
            kind < 60, {block_sql('c', 'problem', "concat('p', toString(p))")},
            kind < 80, {block_sql('c', 'sequential', "concat('s', toString(s))")}, '') AS block_id,
    hex(sipHash64(u, intDiv(toUInt32(t), 3600))) AS session,
    concat('https://lms.example.com/courses/', ck, '/courseware/s', toString(s), '/') AS page, page AS referer,
    'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
        AS agent, '10.0.0.1' AS ip, 'lms.example.com' AS host,
    concat('{{"user_id": ', toString(u), ', "org_id": "Org', toString(c % 10), '", "course_id": "', ck,
           '", "path": "/event", "course_user_tags": {{}}, "enterprise_uuid": ""}}') AS context,
    multiIf(
        kind < 30, concat('{{"id": "v', toString(v), '", "code": "html5", "currentTime": ', toString(pos),
                          ', "duration": 600}}'),
        kind < 35, concat('{{"id": "v', toString(v), '", "old_time": ', toString(pos), ', "new_time": ',
                          toString((pos + 60) % 600), ', "type": "onSlideSeek", "duration": 600}}'),
        kind < 40, concat('{{"id": "v', toString(v), '", "currentTime": ', toString(pos), ', "duration": 600}}'),
        kind < 60, concat('{{"problem_id": "', {block_sql('c', 'problem', "concat('p', toString(p))")},
                          '", "attempts": ', toString(attempt), ', "grade": ', toString(correct),
                          ', "max_grade": 1, "success": "', if(correct, 'correct', 'incorrect'),
                          '", "answers": {{"input_2_1": "choice_', toString(h2 % 4), '"}}}}'),
        kind < 80, concat('{{"old": 1, "new": 2, "id": "', {block_sql('c', 'sequential', "concat('s', toString(s))")},
                          '"}}'),
        kind >= 98, concat('{{"user_id": ', toString(u), ', "course_id": "', ck, '", "mode": "audit"}}'),
        '{{}}') AS event,
    'bench' AS loaded_from
FROM
(
    SELECT
        number, number < {{mooc_events:UInt64}} AS in_mooc,
        if(in_mooc, 0, 1 + number % ({{courses:UInt32}} - 1)) AS c, {course_key_sql('c')} AS ck,
        sipHash64(number, 1) AS h1, sipHash64(number, 2) AS h2, sipHash64(number, 3) % 100 AS kind,
        toInt64(if(in_mooc, 1 + h1 % {{mooc_learners:UInt32}},
                   {{mooc_learners:UInt32}} + 1 + (c * {{shift:UInt32}} + h1 % {{per_course:UInt32}})
                   % {{other_learners:UInt32}})) AS u,
        -- each learner stays for a share of the period (some drop out early: at-risk candidates)
        0.15 + 0.85 * (sipHash64(u, c, 9) % 1000) / 1000 AS stay,
        {{start:DateTime64(6)}} + toIntervalSecond(toUInt64(h2 % toUInt64({{span:UInt32}} * stay))) AS t,
        bitShiftRight(h1, 20) % 20 AS v, bitShiftRight(h1, 24) % 30 AS p, bitShiftRight(h1, 28) % 10 AS s,
        bitShiftRight(h2, 16) % 600 AS pos,
        1 + bitShiftRight(h2, 40) % 3 AS attempt, toUInt8(bitShiftRight(h2, 8) % 100 < 25 + 2 * p) AS correct,
        multiIf(kind < 15, 'play_video', kind < 30, 'pause_video', kind < 35, 'seek_video', kind < 40, 'stop_video',
                kind < 60, 'problem_check', kind < 80, 'seq_goto',
                kind < 97, concat('/courses/', ck, '/courseware/s', toString(s), '/'),
                kind < 98, concat('/courses/', ck, '/course/'),
                'edx.course.enrollment.activated') AS n
    FROM numbers({{offset:UInt64}}, {{count:UInt64}})
)
"""

# Every learner of a course is enrolled (10% no longer active); 70% have a grade.
ENROLLMENTS_SQL = f"""
INSERT INTO course_enrollment (id, course_key, created, is_active, mode, username, user_id, dump_id,
    time_last_dumped, version)
SELECT toInt32(rowNumberInAllBlocks() + 1), {course_key_sql('c')}, '2026-01-01', sipHash64(u, c, 5) % 10 != 0,
       ['audit', 'audit', 'verified', 'honor'][1 + sipHash64(u, c, 6) % 4], '', toInt32(u), generateUUIDv4(),
       '2026-01-01 00:00:00.000000+00:00', 1
FROM
(
    SELECT 0 AS c, 1 + number AS u FROM numbers({{mooc_learners:UInt32}})
    UNION ALL
    SELECT 1 + intDiv(number, {{per_course:UInt32}}) AS c,
           {{mooc_learners:UInt32}} + 1 + (c * {{shift:UInt32}} + number % {{per_course:UInt32}})
           % {{other_learners:UInt32}} AS u
    FROM numbers(({{courses:UInt32}} - 1) * {{per_course:UInt32}})
)
"""

GRADES_SQL = """
INSERT INTO course_grades (id, user_id, course_key, org, percent_grade, letter_grade, is_passing, passed_timestamp,
    course_version, grading_policy_hash, created, modified, dump_id, time_last_dumped, version)
SELECT id, user_id, course_key, splitByChar('+', splitByChar(':', course_key)[2])[1],
       (sipHash64(user_id, course_key, 7) % 1000) / 1000 AS g, if(g >= 0.5, 'Pass', ''), g >= 0.5, '', 'v1', 'h',
       '', '', generateUUIDv4(), '2026-01-01 00:00:00.000000+00:00', 1
FROM course_enrollment WHERE sipHash64(user_id, course_key, 8) % 10 < 7
"""

BLOCKS_SQL = f"""
INSERT INTO course_blocks (org, course_key, location, display_name, xblock_data_json, `order`, edited_on, dump_id,
    time_last_dumped, version)
SELECT concat('Org', toString(c % 10)), {course_key_sql('c')},
       concat('block-v1:Org', toString(c % 10), '+C', toString(c), '+2026+type@', kind, '+block@', id), name,
       concat('{{"block_type": "', kind, '", "section": ', toString(sec), ', "subsection": ', toString(sub),
              ', "unit": 0, "graded": ', toString(kind = 'problem'), ', "detached": 0}}'), toInt32(ord), '',
       generateUUIDv4(), '2026-01-01 00:00:00.000000+00:00', 1
FROM
(
    SELECT number AS c, arrayJoin(arrayConcat(
        arrayMap(i -> ('chapter', concat('c', toString(i)), concat('Section ', toString(i)), i, 0, i * 100),
                 range(1, 6)),
        arrayMap(i -> ('sequential', concat('s', toString(i)), concat('Subsection ', toString(i)), 1 + intDiv(i, 2),
                       1 + i % 2, (1 + intDiv(i, 2)) * 100 + (1 + i % 2) * 10), range(10)),
        arrayMap(i -> ('video', concat('v', toString(i)), concat('Video ', toString(i)), 1 + intDiv(i, 4),
                       1 + intDiv(i % 4, 2), (1 + intDiv(i, 4)) * 100 + (1 + intDiv(i % 4, 2)) * 10 + 1), range(20)),
        arrayMap(i -> ('problem', concat('p', toString(i)), concat('Problem ', toString(i)), 1 + intDiv(i, 6),
                       1 + intDiv(i % 6, 3), (1 + intDiv(i, 6)) * 100 + (1 + intDiv(i % 6, 3)) * 10 + 2), range(30))
    )) AS b, b.1 AS kind, b.2 AS id, b.3 AS name, b.4 AS sec, b.5 AS sub, b.6 AS ord
    FROM numbers({{courses:UInt32}})
)
"""

OVERVIEWS_SQL = f"""
INSERT INTO course_overviews (org, course_key, display_name, course_start, course_end, enrollment_start,
    enrollment_end, self_paced, course_data_json, created, modified, dump_id, time_last_dumped, version)
SELECT concat('Org', toString(number % 10)), {course_key_sql('number')}, concat('Course ', toString(number)), '', '',
       '', '', false, '{{"lowest_passing_grade": 0.5}}', '', '', generateUUIDv4(), '', 1
FROM numbers({{courses:UInt32}})
"""


def build_site(clickhouse, args):
    """Sink state, then the events in slices (each slice one INSERT: the views run on each)."""
    params = site_params(args)
    stop_refreshes(clickhouse)  # one refresh after the build, timed (see refresh_after_build)
    for table in ("tracking_events", "course_enrollment", "course_grades", "course_blocks", "course_overviews",
                  *MODEL_TABLES):
        clickhouse.command(f"TRUNCATE TABLE {clickhouse.qualified(table)}")
    started = time.monotonic()
    for sql in (OVERVIEWS_SQL, BLOCKS_SQL, ENROLLMENTS_SQL):
        clickhouse.command(sql, params)
    clickhouse.command(GRADES_SQL)
    print(f"sink state: {clickhouse.query('SELECT count() FROM course_enrollment')[0][0]:,} enrollments, "
          f"{clickhouse.query('SELECT count() FROM course_grades')[0][0]:,} grades, "
          f"{clickhouse.query('SELECT count() FROM course_blocks')[0][0]:,} blocks "
          f"({time.monotonic() - started:.0f} s)", flush=True)
    slice_size = 1_000_000
    started = time.monotonic()
    # Interleave the MOOC's events with the others' so every slice holds many courses, as live.
    order = sorted(range(0, args.events, slice_size), key=lambda o: (o % (slice_size * 4), o))
    for done, offset in enumerate(order, start=1):
        clickhouse.command(EVENTS_SQL, {**params, "offset": offset, "count": min(slice_size, args.events - offset)})
        elapsed = time.monotonic() - started
        print(f"\r  events: {min(done * slice_size, args.events):,}/{args.events:,} "
              f"({min(done * slice_size, args.events) / elapsed:,.0f} events/s through the views)", end="", flush=True)
    print(f"\n  generated in {time.monotonic() - started:.0f} s", flush=True)


def refresh_after_build(clickhouse):
    """
    Keep every learner-video's pairing and every learner's merged activity, as the periodic
    refreshes do on a live site, timed. The site is settled (every insert committed), so
    ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS is 0 here: a live site's margin (600 s) only adds the
    learners active in its last minutes to what a read computes itself, which ``live_reads`` measures.
    """
    settings.ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS = 0
    sync_settings(clickhouse)
    started = time.monotonic()
    refresh_kept_tables(clickhouse)
    videos = clickhouse.query("SELECT count() FROM analytics_video_watch WHERE user_id >= 0")[0][0]
    learners = clickhouse.query("SELECT count() FROM analytics_learner_rollup WHERE user_id >= 0")[0][0]
    print(f"kept by the refreshes of the whole site: {videos:,} learner-video pairings and {learners:,} learner "
          f"rollups in {time.monotonic() - started:.1f} s", flush=True)


def live_reads(clickhouse, course_key, as_of, learners, repeat):
    """
    The MOOC's kept-table readers while ``learners`` of its learners have activity stamped since
    the last refresh (computed at read time), then the incremental refresh that keeps them. The
    activity is their own video events stored again (as a log loaded twice would): every figure
    stays the same, and once tracking_events has merged them away the site is as before. The
    periodic refreshes are stopped meanwhile: one running between the reads would keep those
    learners, and the reads after it would measure the kept rows instead.
    """
    stop_refreshes(clickhouse)
    clickhouse.command(
        "INSERT INTO tracking_events SELECT * FROM tracking_events WHERE course_key = {course:String} "
        "AND name IN ('play_video', 'pause_video', 'seek_video', 'stop_video') AND user_id IN "
        "(SELECT user_id FROM course_enrollment FINAL WHERE course_key = {course:String} ORDER BY user_id "
        "LIMIT {n:UInt64})", {"course": course_key, "n": learners})
    dirty = clickhouse.query("SELECT uniqExact(user_id) FROM analytics_learner_activity WHERE course_key = {c:String} "
                             "AND changed_at > (SELECT max(source_changed_at) FROM analytics_learner_rollup "
                             "WHERE course_key = '')", {"c": course_key})[0][0]
    reads = {
        "video_stats": lambda: analytics.video_stats(course_key, clickhouse=clickhouse),
        "at_risk_learners (100)": lambda: analytics.at_risk_learners(course_key, as_of, 100, clickhouse=clickhouse),
        "learner_status (100)": lambda: analytics.learner_status(course_key, as_of, clickhouse, limit=100),
        "funnel": lambda: analytics.funnel(course_key, as_of, clickhouse=clickhouse),
    }
    before = {name: timed(read, repeat, clickhouse)[1:3] for name, read in reads.items()}
    started = time.monotonic()
    refresh_kept_tables(clickhouse)
    refresh = time.monotonic() - started
    # (refresh_kept_tables makes the query module forget the "somebody changed" answers it trusts
    # for a while: the reads after it ask again, and read the kept rows.)
    after = {name: timed(read, repeat, clickhouse)[1:3] for name, read in reads.items()}
    print(f"\nMOOC with {dirty:,} learners' activity stamped since the last refresh (computed when read), "
          f"p50/p95 ms; then the refreshes that keep them ({refresh:.1f} s), and again:")
    for name in reads:
        print(f"  {name:24} {before[name][0]:7.1f} {before[name][1]:7.1f}   after the refresh "
              f"{after[name][0]:7.1f} {after[name][1]:7.1f}", flush=True)
    clickhouse.command(f"OPTIMIZE TABLE {clickhouse.qualified('tracking_events')} FINAL")
    return before


# The targets of the issue that asked for the model (p95 on the 2-core dev machine; speed-up on the MOOC).
TARGET_P95_MS = 150
TARGET_SPEED_UP = 10
HEAVY_QUERIES = ("learner_status", "at_risk_learners (100)", "at_risk_learners", "learner_status (all)",
                 "problem_stats", "video_stats")
TARGET_LOADER_SHARE = 0.8


def print_targets(rows, live, loader_share, bounds):
    """Each target, met or not, from this run's figures: what a reader of the run wants first."""
    def verdict(ok):
        return "met" if ok else "NOT MET"

    def stored(label, name):  # the read back of a MOOC list's stored answer (bench_floor), if measured
        return bounds.get(name) if label == "MOOC" else None

    slow = [f"{name} on the {label} {p95:.0f} ms"
            + (f", its stored answer read back alone {stored(label, name)[1]:.0f} ms" if stored(label, name) else "")
            for label, name, _p50, p95, _b50, _b95 in rows if p95 > TARGET_P95_MS]
    slowest = max(rows, key=lambda r: r[3])
    print("\nagainst the targets (on this machine; they were set for the 2-core dev machine):")
    detail = "; ".join(slow) or f"slowest {slowest[3]:.0f} ms, {slowest[1]} on the {slowest[0]}"
    print(f"  every per-course query p95 <= {TARGET_P95_MS} ms, settled: {verdict(not slow)} ({detail})")
    live_slow = [f"{name} {p95:.0f} ms" for name, (_p50, p95) in live.items() if p95 > TARGET_P95_MS]
    detail = "; ".join(live_slow) or f"slowest {max(p95 for _p50, p95 in live.values()):.0f} ms"
    print(f"  the same while learners are active (the MOOC's live reads): {verdict(not live_slow)} ({detail})")
    for label, name, p50, _p95, b50, _b95 in rows:
        if label == "MOOC" and name in HEAVY_QUERIES and b50:
            bound = (f"; its stored answer read back alone: at most {b50 / stored(label, name)[0]:.1f}x"
                     if stored(label, name) else "")
            print(f"  MOOC {name} >= {TARGET_SPEED_UP}x: {verdict(b50 / p50 >= TARGET_SPEED_UP)} "
                  f"({b50 / p50:.1f}x{bound})")
    print(f"  load_tracking_log keeps >= {TARGET_LOADER_SHARE:.0%} of its throughput: "
          f"{verdict(loader_share >= TARGET_LOADER_SHARE)} ({loader_share:.0%})")


def merge_parts(clickhouse):
    """Merge every part (the baseline's FINAL and the model's reads as on a settled site)."""
    started = time.monotonic()
    for table in ("tracking_events", *MODEL_TABLES):
        clickhouse.command(f"OPTIMIZE TABLE {clickhouse.qualified(table)} FINAL")
    print(f"parts merged ({time.monotonic() - started:.0f} s)", flush=True)


# -- baselines: the same answers straight from tracking_events and the sink tables ---------------------------
RAW = "tracking_events FINAL"
ENROLLED_IDS = "(SELECT toInt64(user_id) FROM course_enrollment FINAL WHERE course_key = {course_key:String})"
LEARNER_EVENTS = (f"course_key = {{course_key:String}} AND user_id IS NOT NULL AND user_id >= 0 "
                  f"AND NOT {BOOKKEEPING} AND user_id IN {ENROLLED_IDS}")

# Every column of a learner's status (LearnerStatus), as the model defines it, from the events and the
# sink tables alone: the learner lists' baselines give the same records the model does, and agree()
# compares every column, not only who is listed.
BASELINE_STATUS = f"""
SELECT e.user_id AS user_id, e.enrollment_mode AS enrollment_mode, e.is_active AS is_active,
       e.enrolled_at AS enrolled_at,
       if(a.has = 1, a.first_at, NULL) AS first_activity_at, if(a.has = 1, a.last_at, NULL) AS last_activity_at,
       if(a.has = 1, a.last_day, NULL) AS last_active_day,
       if(a.has = 1, toInt32(dateDiff('day', a.last_day, {{as_of:Date}})), NULL) AS days_inactive,
       a.days AS active_days, a.days_7 AS active_days_7, a.days_30 AS active_days_30,
       a.has = 1 AND a.engaged AS engaged,
       if(g.graded = 1, g.percent_grade, NULL) AS percent_grade, if(g.graded = 1, g.letter_grade, NULL) AS letter_grade,
       g.graded = 1 AND g.is_passing AS is_passing,
       ifNull((SELECT JSONExtract(argMax(course_data_json, version), 'lowest_passing_grade', 'Nullable(Float64)')
               FROM course_overviews FINAL WHERE course_key = {{course_key:String}}),
              {{default_passing_grade:Float64}}) AS passing_grade,
       multiIf(g.graded = 0, 'not graded yet', g.is_passing, 'passing', 'below passing') AS grade_status,
       a.attempted AS problems_attempted, a.solved AS problems_solved, a.videos AS videos_watched,
       e.is_active AND engaged AND NOT is_passing AND a.has = 1 AND days_inactive >= {{inactive_days:UInt32}}
           AS at_risk,
       if(at_risk, concat('inactive ', toString(days_inactive), ' days', char(59), ' ',
                          if(g.graded = 0, 'not graded yet',
                             concat('grade ', printf('%.2f', g.percent_grade), ' below ',
                                    printf('%.2f', passing_grade)))), '') AS at_risk_reasons
FROM (SELECT toInt64(user_id) AS user_id, argMax(mode, id) AS enrollment_mode, argMax(is_active, id) AS is_active,
             argMax(created, id) AS enrolled_at
      FROM course_enrollment FINAL WHERE course_key = {{course_key:String}} GROUP BY user_id) AS e
LEFT JOIN
(
    SELECT assumeNotNull(user_id) AS user_id, 1 AS has, min(time) AS first_at, max(time) AS last_at,
           max(toDate(time)) AS last_day, uniqExact(toDate(time)) AS days,
           uniqExactIf(toDate(time), toDate(time) > {{as_of:Date}} - 7) AS days_7,
           uniqExactIf(toDate(time), toDate(time) > {{as_of:Date}} - 30) AS days_30,
           countIf(NOT {HOME}) > 0 AS engaged,
           uniqExactIf(sipHash64(block_id), {CHECK}) AS attempted,
           uniqExactIf(sipHash64(block_id), {CHECK} AND JSONExtractString(event, 'success') = 'correct') AS solved,
           uniqExactIf(sipHash64(block_id), name IN ('play_video', 'edx.video.played') AND block_id != '') AS videos
    FROM {RAW} WHERE {LEARNER_EVENTS} AND toDate(time) <= {{as_of:Date}}
    GROUP BY user_id
) AS a ON a.user_id = e.user_id
LEFT JOIN (SELECT toInt64(user_id) AS user_id, 1 AS graded, is_passing, percent_grade, letter_grade
           FROM course_grades FINAL WHERE course_key = {{course_key:String}}) AS g ON g.user_id = e.user_id
SETTINGS join_use_nulls = 0
"""
STATUS_COLUMNS = ", ".join(analytics.LearnerStatus._fields)
# (the record's `reasons` is the status's at_risk_reasons)
AT_RISK_COLUMNS = ", ".join("at_risk_reasons" if f == "reasons" else f for f in analytics.AtRiskLearner._fields)
AT_RISK_ORDER = "ORDER BY days_inactive DESC, percent_grade ASC NULLS LAST, user_id"

BASELINES = {
    "learner_status": f"SELECT {STATUS_COLUMNS} FROM ({BASELINE_STATUS}) ORDER BY user_id LIMIT 100",
    "learner_status (all)": f"SELECT {STATUS_COLUMNS} FROM ({BASELINE_STATUS}) ORDER BY user_id",
    "learner_status (10,000)": f"SELECT {STATUS_COLUMNS} FROM ({BASELINE_STATUS}) ORDER BY user_id LIMIT 10000",
    "at_risk_learners": f"SELECT {AT_RISK_COLUMNS} FROM ({BASELINE_STATUS}) WHERE at_risk {AT_RISK_ORDER}",
    "at_risk_learners (100)": (f"SELECT {AT_RISK_COLUMNS} FROM ({BASELINE_STATUS}) WHERE at_risk {AT_RISK_ORDER} "
                               "LIMIT 100"),
    "funnel": (f"SELECT countIf(is_active), countIf(is_active AND first_activity_at IS NOT NULL), "
               f"countIf(is_active AND problems_attempted > 0), countIf(is_active AND is_passing) "
               f"FROM ({BASELINE_STATUS})"),
    "weekly_active_learners": (
        f"SELECT intDiv(toUInt32({{as_of:Date}}) - toUInt32(toDate(time)), 7) AS w, uniqExact(user_id) FROM {RAW} "
        f"WHERE {LEARNER_EVENTS} AND toDate(time) <= {{as_of:Date}} AND toDate(time) > {{as_of:Date}} - 56 "
        "GROUP BY w ORDER BY w DESC"),
    "learner_engagement": (
        f"SELECT user_id, min(time), max(time), uniqExact(toDate(time)), count() FROM {RAW} "
        f"WHERE {LEARNER_EVENTS} GROUP BY user_id ORDER BY user_id"),
    "section_reach": (
        f"SELECT b.sec, b.sub, uniqExact(t.user_id) FROM (SELECT user_id, block_id FROM {RAW} "
        f"WHERE {LEARNER_EVENTS} AND block_id != '') AS t INNER JOIN "
        "(SELECT location, JSONExtractUInt(xblock_data_json, 'section') AS sec, "
        " arrayJoin(arrayDistinct([JSONExtractUInt(xblock_data_json, 'subsection'), 0])) AS sub "
        " FROM course_blocks FINAL WHERE course_key = {course_key:String}) AS b ON b.location = t.block_id "
        "WHERE b.sec > 0 GROUP BY b.sec, b.sub ORDER BY b.sec, b.sub"),
    "problem_stats": (
        "SELECT problem_id, count(), sum(attempts), avg(first_correct), avg(best), sum(solved) FROM "
        "(SELECT block_id AS problem_id, user_id, max(greatest(JSONExtractUInt(event, 'attempts'), 1)) AS attempts, "
        " max(if(JSONExtractFloat(event, 'max_grade') > 0, JSONExtractFloat(event, 'grade') / "
        "     JSONExtractFloat(event, 'max_grade'), 0)) AS best, "
        " max(JSONExtractString(event, 'success') = 'correct') AS solved, "
        " argMin(JSONExtractString(event, 'success') = 'correct', "
        "        (greatest(JSONExtractUInt(event, 'attempts'), 1), time)) AS first_correct "
        f" FROM {RAW} WHERE {LEARNER_EVENTS} AND name = 'problem_check' AND event_source = 'server' "
        " AND block_id != '' GROUP BY problem_id, user_id) GROUP BY problem_id ORDER BY problem_id"),
    "video_stats": (
        "SELECT video_id, countIf(plays > 0), sum(plays), "
        "avgOrDefaultIf(least(watched / greatest(duration, 1e-9), 1), plays > 0) "
        "FROM (SELECT video_id, user_id, length(arrayFilter(x -> x.2 = 1, pts)) AS plays, "
        " arraySort(s -> s.1, arrayFilter(s -> s.2 > s.1, arrayMap(i -> (if(pts[i].2 = 3, pts[i].4, pts[i].3), "
        "   pts[i + 1].3), arrayFilter(i -> i < length(pts) AND (pts[i].2 = 1 OR (pts[i].2 = 3 AND i > 1 "
        "   AND pts[i - 1].2 IN (1, 3))), arrayEnumerate(pts))))) AS segs, "
        " greatest(dur, arrayMax(arrayPushBack(arrayMap(s -> s.2, segs), 0.))) AS duration, "
        " arrayFold((acc, s) -> if(s.1 > acc.3, (acc.1 + acc.3 - acc.2, s.1, s.2), (acc.1, acc.2, "
        "   greatest(acc.3, s.2))), segs, (0., 0., 0.)) AS f, f.1 + f.3 - f.2 AS watched "
        " FROM (SELECT block_id AS video_id, user_id, arraySort(p -> (p.1, p.2), groupUniqArray((time, "
        "   toUInt8(multiIf(name = 'play_video', 1, name = 'pause_video', 2, name = 'seek_video', 3, "
        "   name = 'stop_video', 4, 5)), "
        "   toFloat64(if(name = 'seek_video', JSONExtractFloat(event, 'old_time'), "
        "   JSONExtractFloat(event, 'currentTime'))), toFloat64(JSONExtractFloat(event, 'new_time'))))) AS pts, "
        "   max(JSONExtractFloat(event, 'duration')) AS dur "
        f"  FROM {RAW} WHERE {LEARNER_EVENTS} AND name IN {VIDEO_NAMES} AND block_id != '' "
        "  GROUP BY video_id, user_id)) GROUP BY video_id ORDER BY video_id"),
    "enrollment_weeks": (
        f"SELECT intDiv(toUInt32({{as_of:Date}}) - toUInt32(toDate(time)), 7) AS w, "
        f"uniqExactIf(JSONExtractInt(event, 'user_id'), name = 'edx.course.enrollment.activated') FROM {RAW} "
        "WHERE course_key = {course_key:String} AND name LIKE 'edx.course.enrollment.%' "
        "AND toDate(time) <= {as_of:Date} AND toDate(time) > {as_of:Date} - 14 GROUP BY w ORDER BY w DESC"),
    "grades": ("SELECT toUInt8(least(floor(percent_grade * 10), 9)) AS b, count() FROM course_grades FINAL "
               "WHERE course_key = {course_key:String} GROUP BY b ORDER BY b"),
}


def model_calls(course_key, as_of, first_learner):
    """
    The query module's per-course functions, with the arguments the dashboards and the digest use
    (a page of 100 learners; one learner's problems and videos; the whole learner list at once and
    an export's first page of 10,000).
    """
    return {
        "learner_status": lambda ch: analytics.learner_status(course_key, as_of, clickhouse=ch, limit=100),
        "at_risk_learners": lambda ch: analytics.at_risk_learners(course_key, as_of, clickhouse=ch),
        "at_risk_learners (100)": lambda ch: analytics.at_risk_learners(course_key, as_of, limit=100, clickhouse=ch),
        "funnel": lambda ch: analytics.funnel(course_key, as_of, clickhouse=ch),
        "weekly_active_learners": lambda ch: analytics.weekly_active_learners(course_key, as_of, 8, clickhouse=ch),
        "learner_engagement": lambda ch: analytics.learner_engagement(course_key, clickhouse=ch),
        "section_reach": lambda ch: analytics.section_reach(course_key, clickhouse=ch),
        "problem_stats": lambda ch: analytics.problem_stats(course_key, clickhouse=ch),
        "video_stats": lambda ch: analytics.video_stats(course_key, clickhouse=ch),
        "enrollment_weeks": lambda ch: analytics.enrollment_weeks(course_key, as_of, 2, clickhouse=ch),
        "grades": lambda ch: analytics.grades(course_key, clickhouse=ch),
        "daily_active_learners": lambda ch: analytics.daily_active_learners(
            course_key, as_of - timedelta(days=89), as_of, clickhouse=ch),
        "hardest_problems": lambda ch: analytics.hardest_problems(course_key, 3, clickhouse=ch),
        "most_abandoned_videos": lambda ch: analytics.most_abandoned_videos(course_key, 1, clickhouse=ch),
        "video_dropoff": lambda ch: analytics.video_dropoff(
            course_key, course_key.replace("course-v1:", "block-v1:") + "+type@video+block@v0", clickhouse=ch),
        "course_blocks": lambda ch: analytics.course_blocks(course_key, clickhouse=ch),
        "learner_problems (1)": lambda ch: analytics.learner_problems(course_key, first_learner, clickhouse=ch),
        "learner_videos (1)": lambda ch: analytics.learner_videos(course_key, first_learner, clickhouse=ch),
        "learner_status (all)": lambda ch: analytics.learner_status(course_key, as_of, clickhouse=ch),
        # An export's first page (what aspects_export_learner_status reads a page at a time).
        "learner_status (10,000)": lambda ch: next(analytics.learner_status_pages(course_key, as_of, 10_000, ch),
                                                   []),
    }


def _comparable(values):
    """A record's values as both sides give them: datetimes naive UTC, floats to 9 places, flags as ints."""
    def plain(value):
        if isinstance(value, datetime):
            return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
        if isinstance(value, float):
            return round(value, 9)
        return int(value) if isinstance(value, bool) else value
    return tuple(map(plain, values))


def agree(name, model, baseline):
    """Do the model's and the baseline's answers say the same (on the figures both compute)?"""
    if name.startswith("learner_status") or name.startswith("at_risk_learners"):
        return [_comparable(tuple(r)) for r in model] == [_comparable(r) for r in baseline]
    if name == "funnel":
        return (model.enrolled, model.active, model.attempted_problem, model.passing) == tuple(baseline[0])
    if name == "weekly_active_learners":
        found = dict(baseline)
        return [w.active_learners for w in model] == [found.get(i, 0) for i in range(7, -1, -1)]
    if name == "learner_engagement":
        return [(r.user_id, r.active_days, r.events) for r in model] == [(u, d, n) for u, _, _, d, n in baseline]
    if name == "section_reach":
        return sorted((r.section_number, r.subsection_number, r.learners) for r in model if r.learners) == sorted(
            tuple(r) for r in baseline)
    if name == "problem_stats":
        return all(abs(a - b) < 1e-9 for m, r in zip(sorted(model, key=lambda p: p.problem_id), baseline)
                   for a, b in zip((m.learners, m.attempts, m.first_attempt_success_rate, m.average_score,
                                    m.solved_learners), r[1:])) and len(model) == len(baseline)
    if name == "video_stats":
        return len(model) == len(baseline) and all(
            (m.viewers, m.plays) == tuple(r[1:3]) and abs(m.average_watched_share - r[3]) < 1e-9
            for m, r in zip(sorted(model, key=lambda v: v.video_id), baseline))
    if name == "enrollment_weeks":
        found = dict(baseline)
        return [w.enrollments for w in model] == [found.get(1, 0), found.get(0, 0)]
    if name == "grades":
        found = dict(baseline)
        return [b.learners for b in model.buckets] == [found.get(i, 0) for i in range(10)]
    return None


def timed(function, repeat, clickhouse):
    """Result, p50 and p95 (ms, end to end: query, transfer, records) and the least server time (ms)."""
    times, server = [], []
    for _ in range(repeat):
        before = len(clickhouse.summaries)
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
        server.append(sum(int(s.get("elapsed_ns", 0)) for s in clickhouse.summaries[before:]) / 1e6)
    times.sort()
    return result, statistics.median(times), percentile(times, 0.95), min(server)


def bench_queries(clickhouse, course_key, label, as_of, repeat, baseline_repeat):
    """Every per-course query on the model next to its baseline; returns the rows printed."""
    params = {"course_key": course_key, "as_of": as_of, "inactive_days": settings.ASPECTS_AT_RISK_INACTIVE_DAYS,
              "default_passing_grade": settings.ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE}
    events = clickhouse.query("SELECT count() FROM tracking_events WHERE course_key = {c:String}",
                              {"c": course_key})[0][0]
    learners = clickhouse.query("SELECT count() FROM course_enrollment FINAL WHERE course_key = {c:String}",
                                {"c": course_key})[0][0]
    print(f"\n{label}: {course_key}, {events:,} events, {learners:,} learners "
          f"(model p50/p95 over {repeat} runs, baseline over {baseline_repeat})")
    print(f"  {'query':24} {'model p50':>10} {'p95':>8} {'server':>7}   {'baseline p50':>12} {'p95':>8} {'server':>7}"
          f"   {'speed-up':>8}  same")
    rows = []
    first_learner = clickhouse.query("SELECT min(user_id) FROM course_enrollment FINAL WHERE course_key = {c:String}",
                                     {"c": course_key})[0][0]
    for name, call in model_calls(course_key, as_of, first_learner).items():
        call(clickhouse)  # warm
        model, p50, p95, ms = timed(lambda: call(clickhouse), repeat, clickhouse)  # noqa: B023
        baseline_sql = BASELINES.get(name)
        if baseline_sql:
            base, b50, b95, bms = timed(lambda: clickhouse.query(baseline_sql, params),  # noqa: B023
                                        baseline_repeat, clickhouse)
            same = agree(name, model, base)
            print(f"  {name:24} {p50:8.1f}ms {p95:6.1f}ms {ms:5.1f}ms   {b50:10.1f}ms {b95:6.1f}ms {bms:5.1f}ms"
                  f"   {b50 / p50:7.1f}x  {'yes' if same else 'NO'}")
        else:
            b50 = b95 = None
            print(f"  {name:24} {p50:8.1f}ms {p95:6.1f}ms {ms:5.1f}ms   {'(no baseline: derived from the above)'}")
        rows.append((label, name, p50, p95, b50, b95))
    return rows


def bench_export(clickhouse, course_key, as_of, repeat):
    """
    The MOOC's whole learner list in one call against page by page (10,000 a page, as
    aspects_export_learner_status reads it): total time, and the most memory Python held for the
    records at once (tracemalloc, in runs of their own: it slows what it traces).
    """
    def whole():
        return analytics.learner_status(course_key, as_of, clickhouse=clickhouse)

    def paged():
        count = 0
        for page in analytics.learner_status_pages(course_key, as_of, 10_000, clickhouse):
            count += len(page)  # the page is written and let go, as the export does
        return count

    print(f"\nexport of the MOOC's learner status, p50/p95 over {repeat} runs, and Python's peak memory:")
    for name, read in (("one list", whole), ("10,000 a page", paged)):
        read()
        _, p50, p95, _ = timed(read, repeat, clickhouse)
        tracemalloc.start()
        read()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        print(f"  {name:24} {p50:7.1f} {p95:7.1f} ms   peak {peak / 1e6:6.1f} MB", flush=True)


def bench_floor(clickhouse, course_key, as_of, repeat, baselines):
    """
    The least any model could take for the MOOC's whole learner lists: each list's answer, stored
    in a table of its own, read back into the same records (same driver, same conversions) — the
    transfer and the records alone, no computation. Their p50 bounds the speed-up any design of
    the model could show over the baseline; returns ``{name: (p50, p95)}`` of the read back.
    """
    lists = {
        "at_risk_learners": (lambda: analytics.at_risk_learners(course_key, as_of, clickhouse=clickhouse),
                             analytics.AtRiskLearner, {**queries.AT_RISK_CONVERSIONS, "by_course": [course_key]}),
        "learner_status (all)": (lambda: analytics.learner_status(course_key, as_of, clickhouse=clickhouse),
                                 analytics.LearnerStatus, queries.STATUS_CONVERSIONS),
    }
    stored = clickhouse.qualified("bench_stored_answer")
    bounds = {}
    print("\nthe least any model could take for the MOOC's whole lists: the answer stored in a table and read back "
          f"into the same records, p50/p95 over {repeat} runs (the speed-up over the baseline that would be):")
    for name, (read, record, conversions) in lists.items():
        answer = read()
        sql, params = clickhouse.last_columns_query
        clickhouse.command(f"DROP TABLE IF EXISTS {stored}")
        clickhouse.command(f"CREATE TABLE {stored} ENGINE = MergeTree ORDER BY n AS "
                           f"SELECT rowNumberInAllBlocks() AS n, * FROM ({sql})", params)
        clickhouse.command(f"OPTIMIZE TABLE {stored} FINAL")

        def read_back(record=record, conversions=conversions):
            return queries._records(record, clickhouse, f"SELECT * EXCEPT (n) FROM {stored} ORDER BY n", {},
                                    **conversions)  # pylint: disable=protected-access  (the module's own path)

        again = read_back()
        same = (again[course_key] if isinstance(again, dict) else again) == answer
        _, p50, p95, _ = timed(read_back, repeat, clickhouse)
        bounds[name] = (p50, p95)
        print(f"  {name:24} {len(answer):7,} rows {p50:7.1f} {p95:7.1f} ms   at most {baselines[name] / p50:5.1f}x"
              f"{'' if same else '   (NOT the same records: check the benchmark)'}", flush=True)
    clickhouse.command(f"DROP TABLE IF EXISTS {stored}")
    return bounds


# -- loader with and without the views ----------------------------------------------------------------
def bench_loader(clickhouse, args, workdir):
    """load_tracking_log into a database with the model and into one without its views, alternately."""
    log = Path(workdir) / "tracking.log"
    courses = [f"course-v1:Load+C{c}+2026" for c in range(20)]
    with open(log, "w", encoding="utf-8") as out:
        per_course = max(1, args.loader_events // (len(courses) * 20))
        for i, course in enumerate(courses):
            learners = [(i * 1000 + u, f"u{u}") for u in range(per_course)]
            out.write("".join(log_line(e, prefixed=bool(j % 2)) for j, e in enumerate(
                activity(course, learners, per_learner=20, seed=i))))
    # Both into databases of their own (the site's events stay for the next run of the benchmark).
    with_model, without = (Measured(ConnectionConfig(**{**clickhouse.config.__dict__,
                                                        "database": f"{clickhouse.database}_{suffix}"}))
                           for suffix in ("views", "noviews"))
    MigrationRunner(with_model).run()
    MigrationRunner(without).run()
    for (name,) in without.query("SELECT name FROM system.tables WHERE database = {db:String} "
                                 "AND engine = 'MaterializedView'", {"db": without.database}):
        without.command(f"DROP VIEW {without.database}.{name}")
    without.forget_schema()
    rates = {"with the model's views": [], "without them": []}
    for _ in range(args.loader_rounds):
        for label, target in (("with the model's views", with_model), ("without them", without)):
            target.command(f"TRUNCATE TABLE {target.qualified('tracking_events')}")
            result = LogLoader(target, batch_size=20_000, restart=True, show_progress=False,
                               workers=args.loader_workers).load([str(log)])
            rates[label].append(result.events / result.seconds)
    with_rate, without_rate = (statistics.median(r) for r in rates.values())
    print(f"\nload_tracking_log ({result.events:,} events, {args.loader_workers} workers, median of "
          f"{args.loader_rounds} alternating runs): {with_rate:,.0f} events/s with the model's views, "
          f"{without_rate:,.0f} events/s without them = {with_rate / without_rate:.0%}")
    return with_rate, without_rate


def storage(clickhouse):
    rows = dict(clickhouse.query(
        "SELECT table, sum(bytes_on_disk) FROM system.parts WHERE database = {db:String} AND active GROUP BY table",
        {"db": clickhouse.database}))
    model = sum(v for k, v in rows.items() if k.startswith("analytics_"))
    events = rows.get("tracking_events", 0)
    print(f"\nstorage: the model {model / 1e6:,.1f} MB, tracking_events {events / 1e6:,.1f} MB "
          f"({model / max(events, 1):.1%}); per table: " + ", ".join(
              f"{k} {v / 1e6:,.1f} MB" for k, v in sorted(rows.items()) if k.startswith("analytics_")))


def machine_speed(clickhouse):
    """
    How fast this machine is right now, by two fixed pieces of work (the least of 3 runs each), so
    that figures of runs on different machines can be told apart: machines of the same kind here
    have differed by 2x and more from one session to the next.
    """
    def least(work):
        times = []
        for _ in range(3):
            started = time.perf_counter()
            work()
            times.append(time.perf_counter() - started)
        return min(times)

    def python_loop():
        total = 0
        for i in range(10_000_000):
            total += i
        return total

    python = least(python_loop)
    server = least(lambda: clickhouse.query("SELECT sum(sipHash64(number)) FROM numbers(20000000)"))
    return (f"machine speed: a 10,000,000-step Python loop {python:.2f} s, "
            f"ClickHouse hashing 20,000,000 numbers (one thread) {server:.2f} s")


def main():  # pylint: disable=too-many-locals
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply the site's events and learners (0.1 = 2M events, a 500k-event MOOC)")
    parser.add_argument("--courses", type=int, default=200)
    parser.add_argument("--learners", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=20_000_000)
    parser.add_argument("--mooc-events", type=int, default=5_000_000)
    parser.add_argument("--mooc-learners", type=int, default=50_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=30, help="runs of each model query (p50/p95)")
    parser.add_argument("--baseline-repeat", type=int, default=5, help="runs of each baseline query")
    parser.add_argument("--loader-events", type=int, default=400_000, help="events in the loader comparison's log")
    parser.add_argument("--loader-rounds", type=int, default=3)
    parser.add_argument("--loader-workers", type=int, default=2)
    parser.add_argument("--url", help="an existing ClickHouse (default: start one in var/bench-analytics)")
    parser.add_argument("--database", default="bench_analytics")
    parser.add_argument("--regenerate", action="store_true", help="build the site even if one of this size exists")
    parser.add_argument("--live-learners", type=int, default=1000,
                        help="MOOC learners with new activity when the kept tables are read before a refresh")
    args = parser.parse_args()
    for name in ("learners", "events", "mooc_events", "mooc_learners"):
        setattr(args, name, int(getattr(args, name) * args.scale))
    as_of = datetime.now(timezone.utc).date()
    args.start = datetime.combine(as_of - timedelta(days=args.days - 1), datetime.min.time(), tzinfo=timezone.utc)

    server = None
    url = args.url
    if not url:
        server = LocalClickHouse(ROOT / "var" / "bench-analytics")
        url = server.start()
    try:
        # Merging 20M events takes minutes: a long timeout, and no retry of a statement that timed out.
        clickhouse = Measured(ConnectionConfig(url=url, database=args.database, timeout_secs=1800, retries=0))
        settings.EVENT_SINK_CLICKHOUSE_BACKEND_CONFIG = {"url": url, "database": args.database}
        if MigrationRunner(clickhouse).changed():  # a site built with an older model: start over
            clickhouse.command(f"DROP DATABASE {args.database}")
        MigrationRunner(clickhouse).run()
        clickhouse.forget_schema()
        print(f"ClickHouse {url} database {args.database}; {os.cpu_count()} CPUs shared with other work, "
              f"load average {os.getloadavg()[0]:.1f}; {machine_speed(clickhouse)}")
        size = (args.courses, args.events, args.mooc_events, args.learners, args.mooc_learners, args.days)
        marker = clickhouse.query("SELECT count(), uniqExact(course_key), min(toDate(time)) FROM tracking_events")[0]
        if args.regenerate or marker != (args.events, args.courses, args.start.date()):
            print(f"building the site: {args.courses} courses, {args.learners:,} learners, {args.events:,} events over "
                  f"{args.days} days, the MOOC {args.mooc_events:,} events and {args.mooc_learners:,} learners",
                  flush=True)
            build_site(clickhouse, args)
        else:
            print(f"reusing the site of this size ({size})")
        refresh_after_build(clickhouse)
        merge_parts(clickhouse)
        clickhouse.summaries.clear()
        rows = []
        rows += bench_queries(clickhouse, "course-v1:Org1+C1+2026", "typical course", as_of, args.repeat,
                              args.baseline_repeat)
        rows += bench_queries(clickhouse, "course-v1:Org0+C0+2026", "MOOC", as_of, args.repeat, args.baseline_repeat)
        bench_export(clickhouse, "course-v1:Org0+C0+2026", as_of, args.repeat)
        bounds = bench_floor(clickhouse, "course-v1:Org0+C0+2026", as_of, args.repeat,
                             {name: b50 for label, name, _p50, _p95, b50, _b95 in rows if label == "MOOC"})
        live = live_reads(clickhouse, "course-v1:Org0+C0+2026", as_of, args.live_learners, args.repeat)
        memory = max(int(s.get("memory_usage", 0)) for s in clickhouse.summaries)
        worst = max(rows, key=lambda r: r[3])
        print(f"\nslowest model query p95: {worst[3]:.1f} ms ({worst[1]} on the {worst[0]}); largest memory_usage of "
              f"any query (model and baseline): {memory / 1e6:,.0f} MB")
        storage(clickhouse)
        with tempfile.TemporaryDirectory(dir=ROOT / "var") as workdir:
            with_views, without_views = bench_loader(clickhouse, args, workdir)
        print_targets(rows, live, with_views / without_views, bounds)
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
