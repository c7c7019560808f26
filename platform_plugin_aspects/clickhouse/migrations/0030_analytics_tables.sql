-- The course analytics model (issue 11), part 1: tables fed incrementally from tracking_events.
--
-- Every table is ordered by (course_key, ...) so one course's rows are one contiguous range, and
-- holds one row per key after merges (AggregatingMergeTree). Readers always GROUP BY the key and
-- use the -Merge combinators (or min/max for SimpleAggregateFunction), never FINAL.
--
-- Idempotent by construction: an event delivered twice (live and again from a log, or a rerun of
-- aspects_rebuild_analytics) fires the materialized views twice, so every column is an aggregate
-- that does not change when the same event is added again: min, max, argMin/argMax, sets of event
-- ids (uniqExact(event_id)), bitmaps of user ids or day numbers (groupBitmap), sets of points
-- (groupUniqArray). There is no count() or sum() over events anywhere in the model.
--
-- Learner-level tables carry a numeric user_id (never a username: events may be de-identified),
-- so retirement finds them by their user_id column. `org` is kept on every table for row-level
-- security; it is not part of the key (one course belongs to one org).
--
-- What counts as "activity" (learner_activity, course_daily, block_activity): every event of a
-- known user in a course except the platform's own bookkeeping (enrollment, grade and certificate
-- events). "Engaged" activity additionally excludes visits of the course home / info pages.

CREATE TABLE IF NOT EXISTS ${database}.analytics_learner_activity ${on_cluster}
(
    org SimpleAggregateFunction(any, String),
    course_key String,
    user_id Int64,
    first_activity_at SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_activity_at SimpleAggregateFunction(max, DateTime64(6, 'UTC')),
    events AggregateFunction(uniqExact, UUID),
    active_days AggregateFunction(groupBitmap, UInt32),
    engaged_days AggregateFunction(groupBitmap, UInt32),
    problems_attempted AggregateFunction(uniqExact, String),
    problems_solved AggregateFunction(uniqExact, String),
    videos_watched AggregateFunction(uniqExact, String)
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY (course_key, user_id);

CREATE TABLE IF NOT EXISTS ${database}.analytics_course_daily ${on_cluster}
(
    org SimpleAggregateFunction(any, String),
    course_key String,
    day Date,
    learners AggregateFunction(groupBitmap, UInt64),
    events AggregateFunction(uniqExact, UUID)
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY (course_key, day);

CREATE TABLE IF NOT EXISTS ${database}.analytics_enrollment_daily ${on_cluster}
(
    org SimpleAggregateFunction(any, String),
    course_key String,
    day Date,
    action LowCardinality(String),
    mode LowCardinality(String),
    learners AggregateFunction(groupBitmap, UInt64)
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY (course_key, day, action, mode);

CREATE TABLE IF NOT EXISTS ${database}.analytics_block_activity ${on_cluster}
(
    org SimpleAggregateFunction(any, String),
    course_key String,
    block_id String,
    learners AggregateFunction(groupBitmap, UInt64),
    first_activity_at SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_activity_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY (course_key, block_id);

-- attempts: the platform's own attempt counter (problem_check's `attempts`), so a resubmitted
-- event does not add one. first_attempt: was the learner's earliest attempt correct.
CREATE TABLE IF NOT EXISTS ${database}.analytics_problem_learner ${on_cluster}
(
    org SimpleAggregateFunction(any, String),
    course_key String,
    problem_id String,
    user_id Int64,
    attempts SimpleAggregateFunction(max, UInt32),
    best_score SimpleAggregateFunction(max, Float64),
    solved SimpleAggregateFunction(max, UInt8),
    first_attempt AggregateFunction(argMin, UInt8, Tuple(UInt32, DateTime64(6, 'UTC'))),
    last_score AggregateFunction(argMax, Float64, DateTime64(6, 'UTC')),
    first_attempt_at SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_attempt_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY (course_key, problem_id, user_id);

-- points: every play (1), pause (2), seek (3), stop (4) and completion (5) as
-- (time, kind, position, position after a seek); watched segments are paired from them when read.
CREATE TABLE IF NOT EXISTS ${database}.analytics_video_learner ${on_cluster}
(
    org SimpleAggregateFunction(any, String),
    course_key String,
    video_id String,
    user_id Int64,
    points AggregateFunction(groupUniqArray, Tuple(DateTime64(6, 'UTC'), UInt8, Float64, Float64)),
    duration SimpleAggregateFunction(max, Float64),
    first_viewed_at SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_viewed_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY (course_key, video_id, user_id);

-- The at-risk settings the views below read (the query module passes Django's settings itself);
-- migrate_clickhouse writes ASPECTS_AT_RISK_INACTIVE_DAYS and
-- ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE here on every deploy.
CREATE TABLE IF NOT EXISTS ${database}.analytics_settings ${on_cluster}
(
    name String,
    value Float64,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${replicated}ReplacingMergeTree(updated_at)
ORDER BY name;
