-- The course analytics model (issue 11), part 2: the materialized views that feed the tables of
-- 0030 from every insert into tracking_events (live backend, load_tracking_log and
-- aspects_rebuild_analytics alike). They only see new inserts: nothing here reads existing rows.
--
-- Shared definitions (kept identical in every view below):
--   learner event : user_id IS NOT NULL AND user_id >= 0 AND course_key != ''
--   bookkeeping   : enrollment, grade and certificate events (not learner activity)
--   home page     : /courses/<key>/, /courses/<key>/course/, /courses/<key>/info/, edx.course.home.*

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_learner_activity_mv ${on_cluster}
TO ${database}.analytics_learner_activity AS
SELECT
    any(org) AS org,
    course_key,
    assumeNotNull(user_id) AS user_id,
    min(time) AS first_activity_at,
    max(time) AS last_activity_at,
    minOrNullIf(time, NOT is_home) AS first_engaged_at,
    groupUniqArray(toDate(time)) AS active_days,
    groupUniqArrayIf(sipHash64(block_id), is_check) AS problems_attempted,
    groupUniqArrayIf(sipHash64(block_id), is_check AND JSONExtractString(event, 'success') = 'correct')
        AS problems_solved,
    groupUniqArrayIf(sipHash64(block_id), name IN ('play_video', 'edx.video.played') AND block_id != '')
        AS videos_watched,
    uniqExactState(event_id) AS events
FROM
(
    SELECT
        org, course_key, user_id, time, event_id, block_id, name, event,
        match(name, '^/courses/[^/]+/((course|info|home)/?)?$$') OR startsWith(name, 'edx.course.home.') AS is_home,
        name = 'problem_check' AND event_source = 'server' AND block_id != '' AS is_check
    FROM ${database}.tracking_events
    WHERE user_id IS NOT NULL AND user_id >= 0 AND course_key != ''
      AND NOT match(name, '^edx\\.(course\\.enrollment|grades|course\\.grade|certificate)\\.')
)
GROUP BY course_key, user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_course_daily_mv ${on_cluster}
TO ${database}.analytics_course_daily AS
SELECT
    any(org) AS org,
    course_key,
    toDate(time) AS day,
    groupBitmapState(toUInt64(assumeNotNull(user_id))) AS learners
FROM ${database}.tracking_events
WHERE user_id IS NOT NULL AND user_id >= 0 AND course_key != ''
  AND NOT match(name, '^edx\\.(course\\.enrollment|grades|course\\.grade|certificate)\\.')
GROUP BY course_key, day;

-- The learner of an enrollment event is the payload's user_id (staff may enroll someone else).
CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_enrollment_daily_mv ${on_cluster}
TO ${database}.analytics_enrollment_daily AS
SELECT
    any(org) AS org,
    course_key,
    toDate(time) AS day,
    replaceOne(name, 'edx.course.enrollment.', '') AS action,
    JSONExtractString(event, 'mode') AS mode,
    groupBitmapState(toUInt64(assumeNotNull(learner))) AS learners
FROM
(
    SELECT org, course_key, time, name, event,
           ifNull(JSONExtract(event, 'user_id', 'Nullable(Int64)'), user_id) AS learner
    FROM ${database}.tracking_events
    WHERE name IN ('edx.course.enrollment.activated', 'edx.course.enrollment.deactivated',
                   'edx.course.enrollment.mode_changed')
      AND course_key != ''
)
WHERE learner IS NOT NULL AND learner >= 0
GROUP BY course_key, day, action, mode;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_block_activity_mv ${on_cluster}
TO ${database}.analytics_block_activity AS
SELECT
    any(org) AS org,
    course_key,
    block_id,
    groupBitmapState(toUInt64(assumeNotNull(user_id))) AS learners,
    min(time) AS first_activity_at,
    max(time) AS last_activity_at
FROM ${database}.tracking_events
WHERE user_id IS NOT NULL AND user_id >= 0 AND course_key != '' AND block_id != ''
  AND NOT match(name, '^edx\\.(course\\.enrollment|grades|course\\.grade|certificate)\\.')
GROUP BY course_key, block_id;

-- Graded submissions: the server's problem_check (the browser's carries only the raw answers).
CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_problem_learner_mv ${on_cluster}
TO ${database}.analytics_problem_learner AS
SELECT
    any(org) AS org,
    course_key,
    block_id AS problem_id,
    assumeNotNull(user_id) AS user_id,
    max(attempt) AS attempts,
    max(score) AS best_score,
    max(correct) AS solved,
    min((attempt, time, correct)) AS first_attempt,
    max((time, score)) AS last_score,
    min(time) AS first_attempt_at,
    max(time) AS last_attempt_at
FROM
(
    SELECT
        org, course_key, block_id, user_id, time,
        toUInt32(greatest(JSONExtractUInt(event, 'attempts'), 1)) AS attempt,
        if(JSONExtractFloat(event, 'max_grade') > 0,
           least(greatest(JSONExtractFloat(event, 'grade') / JSONExtractFloat(event, 'max_grade'), 0), 1), 0) AS score,
        toUInt8(JSONExtractString(event, 'success') = 'correct') AS correct
    FROM ${database}.tracking_events
    WHERE name = 'problem_check' AND event_source = 'server'
      AND user_id IS NOT NULL AND user_id >= 0 AND course_key != '' AND block_id != ''
)
GROUP BY course_key, problem_id, user_id;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_video_learner_mv ${on_cluster}
TO ${database}.analytics_video_learner AS
SELECT
    any(org) AS org,
    course_key,
    block_id AS video_id,
    assumeNotNull(user_id) AS user_id,
    groupUniqArray((time, kind, toFloat32(position), toFloat32(to_position))) AS points,
    max(video_duration) AS duration,
    min(time) AS first_viewed_at,
    max(time) AS last_viewed_at
FROM
(
    SELECT
        org, course_key, block_id, user_id, time,
        toUInt8(multiIf(
            name IN ('play_video', 'edx.video.played'), 1,
            name IN ('pause_video', 'edx.video.paused'), 2,
            name IN ('seek_video', 'edx.video.position.changed'), 3,
            name IN ('stop_video', 'edx.video.stopped'), 4,
            5)) AS kind,
        greatest(toFloat64(ifNull(if(kind = 3,
            JSONExtract(event, 'old_time', 'Nullable(Float64)'),
            coalesce(JSONExtract(event, 'currentTime', 'Nullable(Float64)'),
                     JSONExtract(event, 'current_time', 'Nullable(Float64)'))), 0)), 0) AS position,
        greatest(toFloat64(ifNull(JSONExtract(event, 'new_time', 'Nullable(Float64)'), 0)), 0) AS to_position,
        greatest(JSONExtractFloat(event, 'duration'), 0) AS video_duration
    FROM ${database}.tracking_events
    WHERE name IN ('play_video', 'edx.video.played', 'pause_video', 'edx.video.paused', 'seek_video',
                   'edx.video.position.changed', 'stop_video', 'edx.video.stopped', 'complete_video',
                   'edx.video.completed')
      AND user_id IS NOT NULL AND user_id >= 0 AND course_key != '' AND block_id != ''
)
GROUP BY course_key, video_id, user_id;
