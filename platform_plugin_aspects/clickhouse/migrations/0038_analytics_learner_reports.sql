-- repeatable: views
-- (migrate_clickhouse applies this file again whenever it changes: views hold no data.)
--
-- The course analytics model, part 9: the learner reports, over analytics_learner_rollup (0037).
-- Parameterized and plain views as in 0032 (`course_keys = []` means every course).
--
-- Kept and fresh, as the video reports of 0035: analytics_learner_rollup keeps, per (course,
-- learner), the merged activity, the enrollment, the grade and the course's passing grade,
-- recomputed every minute by analytics_learner_rollup_refresh (0041) for the learners with a
-- change. A reader takes the kept row of every learner with no change stamped after the
-- watermark, and computes the rows of the others itself (analytics_learner_rollup_compute_for), so
-- every figure is exact whether or not a refresh ran: a new grade, enrollment or unenrollment
-- shows at once, as new activity does.
-- The watermark is the last refresh's start less ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS (600,
-- `video_watch_margin_secs` in analytics_settings: the longest an insert may take to commit, the
-- same for both kept tables), written by the refresh itself in its heartbeat row (course_key '',
-- user_id -1: source_changed_at the watermark, last_activity_at the start), so a reader looks up
-- one value.

-- Each course's lowest passing grade (NULL: the course sets none; readers fall back to
-- ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE) as one map, for a scalar: looked up per learner, never
-- joined (joining every learner's row cost more than the rest of the at-risk list). Read by
-- current_for and by the refresh (0041), which keeps it in analytics_learner_rollup.
CREATE OR REPLACE VIEW ${database}.analytics_course_passing_grades_for ${on_cluster} AS
SELECT CAST(groupArray((course_key, JSONExtract(course_data_json, 'lowest_passing_grade', 'Nullable(Float64)'))),
            'Map(String, Nullable(Float64))') AS passing_grades
FROM ${database}.course_overviews FINAL
WHERE empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)};

-- Stamped after the watermark: a learner's activity (changed_at, 0037), enrollment or grade row
-- (inserted_at, 0037_analytics_learner_rollup_status): one row per such row of the learners of
-- these courses (`user_ids`: only those, `[]`: all), with its stamp; every learner before the
-- first refresh. The query module asks it next to a report's kept read (see analytics/queries.py):
-- nobody changed, and the kept read (analytics_learner_rollup_kept_for) is the answer.
-- compute_for writes the same list out again: calling this view there made the dashboards' plain
-- views 30-40 ms slower on the benchmark's MOOC (at-risk 192 -> 232 ms), as in 0035.
CREATE OR REPLACE VIEW ${database}.analytics_learner_rollup_changed_for ${on_cluster} AS
SELECT course_key, user_id, stamp
FROM
(
    SELECT course_key, user_id, changed_at AS stamp FROM ${database}.analytics_learner_activity
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND (empty({user_ids:Array(Int64)}) OR user_id IN {user_ids:Array(Int64)})
    UNION ALL
    SELECT course_key, toInt64(user_id), inserted_at FROM ${database}.course_enrollment
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND (empty({user_ids:Array(Int64)}) OR user_id IN {user_ids:Array(Int64)})
    UNION ALL
    SELECT course_key, toInt64(user_id), inserted_at FROM ${database}.course_grades
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND (empty({user_ids:Array(Int64)}) OR user_id IN {user_ids:Array(Int64)})
    UNION ALL
    -- The course itself (user_id -1): its kept rows may hold the passing grade it had before.
    SELECT course_key, toInt64(-1), inserted_at FROM ${database}.course_overviews
    WHERE empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)}
)
WHERE stamp > (SELECT argMax(source_changed_at, last_activity_at) FROM ${database}.analytics_learner_rollup WHERE course_key = '');

-- The kept row itself, for the changed learners of these courses: their merged activity, their
-- enrollment and their grade, one row per changed (course, learner), also where none is left (an
-- enrollment deleted since: the row masks the older one). No enrollment filter (readers apply it).
-- The version is the latest stamp, so a later computation of the same learner wins. Without the
-- course's passing grade: its readers (current_for, the refresh of 0041) look it up once per query.
CREATE OR REPLACE VIEW ${database}.analytics_learner_rollup_compute_for ${on_cluster} AS
WITH changed AS
(
    SELECT course_key, user_id, max(stamp) AS stamped_at
    FROM
    (
        SELECT course_key, user_id, changed_at AS stamp FROM ${database}.analytics_learner_activity
        WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
          AND (empty({user_ids:Array(Int64)}) OR user_id IN {user_ids:Array(Int64)})
        UNION ALL
        SELECT course_key, toInt64(user_id), inserted_at FROM ${database}.course_enrollment
        WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
          AND (empty({user_ids:Array(Int64)}) OR user_id IN {user_ids:Array(Int64)})
        UNION ALL
        SELECT course_key, toInt64(user_id), inserted_at FROM ${database}.course_grades
        WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
          AND (empty({user_ids:Array(Int64)}) OR user_id IN {user_ids:Array(Int64)})
    )
    WHERE stamp > (SELECT argMax(source_changed_at, last_activity_at) FROM ${database}.analytics_learner_rollup WHERE course_key = '')
    GROUP BY course_key, user_id
),
-- The changed learners' ids, computed once: each IN below reads them instead of running the
-- list's three reads again (while planning: 10 ms each on the benchmark's MOOC).
(SELECT groupUniqArray(user_id) FROM changed) AS changed_user_ids
SELECT
    if(position(p.course_key, ':') > 0, splitByChar('+', splitByChar(':', p.course_key)[2])[1],
       splitByChar('/', p.course_key)[1]) AS org,
    p.course_key AS course_key, p.user_id AS user_id,
    a.first_activity_at AS first_activity_at, a.last_activity_at AS last_activity_at,
    a.first_engaged_at AS first_engaged_at, arraySort(a.active_days) AS active_days,
    toUInt32(length(a.problems_attempted)) AS problems_attempted,
    toUInt32(length(a.problems_solved)) AS problems_solved,
    toUInt32(length(a.videos_watched)) AS videos_watched,
    a.events AS events, p.stamped_at AS source_changed_at, a.has_activity AS has_activity,
    e.enrolled AS enrolled, e.mode AS enrollment_mode, e.is_active AS is_active, e.created AS enrolled_at,
    g.graded AS graded, g.percent_grade AS percent_grade, g.letter_grade AS letter_grade, g.is_passing AS is_passing
FROM changed AS p
LEFT JOIN
(
    SELECT course_key, user_id, 1 AS has_activity, first_activity_at, last_activity_at, first_engaged_at, active_days,
           problems_attempted, problems_solved, videos_watched, finalizeAggregation(events) AS events
    FROM ${database}.analytics_learner_activity FINAL
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND user_id IN (SELECT arrayJoin(changed_user_ids))
) AS a ON a.course_key = p.course_key AND a.user_id = p.user_id
LEFT JOIN
(
    -- One enrollment per learner and course (the newest, should an id ever be re-created).
    SELECT course_key, toInt64(user_id) AS user_id, 1 AS enrolled, argMax(mode, id) AS mode,
           argMax(is_active, id) AS is_active, argMax(created, id) AS created
    FROM ${database}.course_enrollment FINAL
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND user_id IN (SELECT arrayJoin(changed_user_ids))
    GROUP BY course_key, user_id
) AS e ON e.course_key = p.course_key AND e.user_id = p.user_id
LEFT JOIN
(
    SELECT course_key, toInt64(user_id) AS user_id, 1 AS graded, percent_grade, letter_grade, is_passing
    FROM ${database}.course_grades FINAL
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND user_id IN (SELECT arrayJoin(changed_user_ids))
) AS g ON g.course_key = p.course_key AND g.user_id = p.user_id;

-- The kept rows of these courses and learners, as they are: exact for every learner not changed
-- since the watermark.
CREATE OR REPLACE VIEW ${database}.analytics_learner_rollup_kept_for ${on_cluster} AS
SELECT org, course_key, user_id, has_activity, first_activity_at, last_activity_at, first_engaged_at, active_days,
       problems_attempted, problems_solved, videos_watched, events,
       enrolled, enrollment_mode, is_active, enrolled_at, graded, percent_grade, letter_grade, is_passing,
       passing_grade
FROM ${database}.analytics_learner_rollup AS r FINAL
WHERE (empty({course_keys:Array(String)}) OR r.course_key IN {course_keys:Array(String)})
  AND (empty({user_ids:Array(Int64)}) OR r.user_id IN {user_ids:Array(Int64)})
  AND r.user_id >= 0;

-- Every learner's row in these courses as of now: the fresh computation of each changed learner
-- (see above), else the kept row. No enrollment filter.
CREATE OR REPLACE VIEW ${database}.analytics_learner_rollup_current_for ${on_cluster} AS
-- The course's passing grade as of now, for the kept rows too: the course counts as changed when
-- its overview was stamped after the watermark, and its kept rows may hold the grade before.
WITH (SELECT passing_grades FROM ${database}.analytics_course_passing_grades_for(
    course_keys = {course_keys:Array(String)})) AS course_passing_grades
SELECT org, course_key, user_id, has_activity, first_activity_at, last_activity_at, first_engaged_at, active_days,
       problems_attempted, problems_solved, videos_watched, events,
       enrolled, enrollment_mode, is_active, enrolled_at, graded, percent_grade, letter_grade, is_passing,
       course_passing_grades[course_key] AS passing_grade
FROM
(
    SELECT org, course_key, user_id, has_activity, first_activity_at, last_activity_at, first_engaged_at,
           active_days, problems_attempted, problems_solved, videos_watched, events,
           enrolled, enrollment_mode, is_active, enrolled_at, graded, percent_grade, letter_grade, is_passing,
           0 AS fresh
    FROM ${database}.analytics_learner_rollup AS r FINAL
    WHERE (empty({course_keys:Array(String)}) OR r.course_key IN {course_keys:Array(String)})
      AND (empty({user_ids:Array(Int64)}) OR r.user_id IN {user_ids:Array(Int64)})
      AND r.user_id >= 0
    UNION ALL
    SELECT org, course_key, user_id, has_activity, first_activity_at, last_activity_at, first_engaged_at,
           active_days, problems_attempted, problems_solved, videos_watched, events,
           enrolled, enrollment_mode, is_active, enrolled_at, graded, percent_grade, letter_grade, is_passing,
           1 AS fresh
    FROM ${database}.analytics_learner_rollup_compute_for(
        course_keys = {course_keys:Array(String)}, user_ids = {user_ids:Array(Int64)})
)
ORDER BY fresh DESC
LIMIT 1 BY course_key, user_id;

-- One row per enrollment: mode, state, activity as of `as_of`, grade, counts, at-risk flag and why.
-- At risk: actively enrolled, did more than open the course home page, not passing (no grade yet
-- counts as not passing, reported "not graded yet", never "failed"), and the latest active day
-- is `inactive_days` or more days before `as_of` (last active exactly inactive_days ago: at risk).
-- `user_ids` narrows it to those learners (`[]`: all), read through the primary key.
CREATE OR REPLACE VIEW ${database}.analytics_learner_status_for ${on_cluster} AS
-- One level of SELECT over the kept rows (each subquery level cost ClickHouse milliseconds of
-- planning). The course's passing grade comes with each kept row: the scalar that looked it up
-- here cost the MOOC's at-risk top 100 about 5 of 28 ms.
SELECT
    r.org AS org, r.course_key AS course_key, r.user_id AS user_id, r.enrollment_mode AS enrollment_mode,
    r.is_active AS is_active, r.enrolled_at AS enrolled_at,
    if(r.has_activity, r.first_activity_at, NULL) AS first_activity_at,
    if(r.has_activity, r.last_activity_at, NULL) AS last_activity_at,
    -- r.active_days is sorted: the last active day up to as_of is the active_days-th.
    arrayCount(d -> d <= {as_of:Date}, r.active_days) AS active_days,
    if(active_days > 0, r.active_days[active_days], NULL) AS last_active_day,
    if(active_days > 0, toInt32(dateDiff('day', r.active_days[active_days], {as_of:Date})), NULL) AS days_inactive,
    arrayCount(d -> d > {as_of:Date} - 7 AND d <= {as_of:Date}, r.active_days) AS active_days_7,
    arrayCount(d -> d > {as_of:Date} - 30 AND d <= {as_of:Date}, r.active_days) AS active_days_30,
    r.has_activity AND ifNull(r.first_engaged_at < toDateTime64({as_of:Date} + 1, 6, 'UTC'), 0) AS engaged,
    if(r.graded, r.percent_grade, NULL) AS percent_grade,
    if(r.graded, r.letter_grade, NULL) AS letter_grade,
    r.graded AND r.is_passing AS is_passing,
    ifNull(r.passing_grade, {default_passing_grade:Float64}) AS passing_grade,
    multiIf(NOT r.graded, 'not graded yet', r.is_passing, 'passing', 'below passing') AS grade_status,
    r.problems_attempted AS problems_attempted, r.problems_solved AS problems_solved,
    r.videos_watched AS videos_watched,
    r.is_active AND engaged AND NOT is_passing AND active_days > 0
        AND days_inactive >= {inactive_days:UInt32} AS at_risk,
    -- char(59) is the semicolon between the reasons: one anywhere in a query's text makes the Python
    -- driver lex the whole query before sending it (the status reports: 4-5 ms of 35).
    if(at_risk, concat('inactive ', toString(days_inactive), ' days', char(59), ' ',
                       if(grade_status = 'not graded yet', 'not graded yet',
                          concat('grade ', printf('%.2f', assumeNotNull(percent_grade)), ' below ',
                                 printf('%.2f', passing_grade)))), '') AS at_risk_reasons
FROM ${database}.analytics_learner_rollup_current_for(
    course_keys = {course_keys:Array(String)}, user_ids = {user_ids:Array(Int64)}) AS r
WHERE r.enrolled;

CREATE OR REPLACE VIEW ${database}.analytics_learner_status ${on_cluster} AS
SELECT * FROM ${database}.analytics_learner_status_for(
    course_keys = [], user_ids = [], as_of = today(),
    inactive_days = (SELECT toUInt32(if(count() = 0, 7, argMax(value, updated_at)))
                     FROM ${database}.analytics_settings WHERE name = 'at_risk_inactive_days'),
    default_passing_grade = (SELECT if(count() = 0, 0.5, argMax(value, updated_at))
                             FROM ${database}.analytics_settings WHERE name = 'default_passing_grade'));

CREATE OR REPLACE VIEW ${database}.analytics_at_risk_learners ${on_cluster} AS
SELECT org, course_key, user_id, enrollment_mode, last_activity_at, last_active_day, days_inactive,
       percent_grade, passing_grade, grade_status, at_risk_reasons
FROM ${database}.analytics_learner_status
WHERE at_risk;

-- Learner status with who the learner is (username from course_enrollment, name and email from
-- user_profile): only for dashboards shown when ASPECTS_ENABLE_PII is on (the PII sinks fill
-- those columns only then).
CREATE OR REPLACE VIEW ${database}.analytics_learner_status_pii ${on_cluster} AS
SELECT *
FROM ${database}.analytics_learner_status AS s
LEFT JOIN
(
    SELECT course_key, toInt64(user_id) AS user_id, username FROM ${database}.course_enrollment FINAL
) AS e USING (course_key, user_id)
LEFT JOIN
(
    SELECT toInt64(user_id) AS user_id, name, email FROM ${database}.user_profile FINAL
) AS p USING (user_id);

-- Per enrolled learner with any activity: first and last activity, active days, distinct events
-- (`user_ids`: only those learners, `[]`: all).
CREATE OR REPLACE VIEW ${database}.analytics_learner_engagement_for ${on_cluster} AS
SELECT org, course_key, user_id, first_activity_at, last_activity_at, length(active_days) AS active_days, events
FROM ${database}.analytics_learner_rollup_current_for(
    course_keys = {course_keys:Array(String)}, user_ids = {user_ids:Array(Int64)})
WHERE enrolled AND has_activity;

CREATE OR REPLACE VIEW ${database}.analytics_learner_engagement ${on_cluster} AS
SELECT * FROM ${database}.analytics_learner_engagement_for(course_keys = [], user_ids = []);
