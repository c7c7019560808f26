-- The course analytics model (issue 11), part 1: tables fed incrementally from tracking_events.
--
-- Every table is ordered by (course_key, ...) so one course's rows are one contiguous range, and
-- holds one row per key after merges (AggregatingMergeTree). Readers use FINAL (or GROUP BY the key
-- with the -Merge combinators): unmerged parts hold partial rows.
--
-- Idempotent by construction: an event delivered twice (live and again from a log, or a rerun of
-- aspects_rebuild_analytics) fires the materialized views twice, so every column is an aggregate
-- that does not change when the same event is added again: min, max (of tuples too), sets
-- (groupUniqArrayArray of days, of hashed block ids, of video points; uniqExact of event ids),
-- bitmaps of user ids (groupBitmap). There is no count() or sum() over events anywhere in the model.
--
-- Fast to read: learner-level tables use granules of 1024 rows (a small course reads little of its
-- neighbours' rows); learner-level columns are SimpleAggregateFunction values and small arrays, which
-- FINAL reads without building a state per row; block ids in per-learner sets are sipHash64 values
-- (8 bytes; a collision among a course's blocks is about 1 in 10^13).
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
    first_engaged_at SimpleAggregateFunction(min, Nullable(DateTime64(6, 'UTC'))),
    active_days SimpleAggregateFunction(groupUniqArrayArray, Array(Date)),
    problems_attempted SimpleAggregateFunction(groupUniqArrayArray, Array(UInt64)),
    problems_solved SimpleAggregateFunction(groupUniqArrayArray, Array(UInt64)),
    videos_watched SimpleAggregateFunction(groupUniqArrayArray, Array(UInt64)),
    events AggregateFunction(uniqExact, UUID)
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY (course_key, user_id)
SETTINGS index_granularity = 1024;

CREATE TABLE IF NOT EXISTS ${database}.analytics_course_daily ${on_cluster}
(
    org SimpleAggregateFunction(any, String),
    course_key String,
    day Date,
    learners AggregateFunction(groupBitmap, UInt64)
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
-- event does not add one. first_attempt: the smallest (attempt, time, correct), i.e. whether the
-- learner's earliest attempt was correct; last_score: the greatest (time, score).
CREATE TABLE IF NOT EXISTS ${database}.analytics_problem_learner ${on_cluster}
(
    org SimpleAggregateFunction(any, String),
    course_key String,
    problem_id String,
    user_id Int64,
    attempts SimpleAggregateFunction(max, UInt32),
    best_score SimpleAggregateFunction(max, Float64),
    solved SimpleAggregateFunction(max, UInt8),
    first_attempt SimpleAggregateFunction(min, Tuple(UInt32, DateTime64(6, 'UTC'), UInt8)),
    last_score SimpleAggregateFunction(max, Tuple(DateTime64(6, 'UTC'), Float64)),
    first_attempt_at SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_attempt_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY (course_key, problem_id, user_id)
SETTINGS index_granularity = 1024;

-- points: every play (1), pause (2), seek (3), stop (4) and completion (5) as
-- (time, kind, position, position after a seek); watched segments are paired from them when read.
CREATE TABLE IF NOT EXISTS ${database}.analytics_video_learner ${on_cluster}
(
    org SimpleAggregateFunction(any, String),
    course_key String,
    video_id String,
    user_id Int64,
    points SimpleAggregateFunction(groupUniqArrayArray, Array(Tuple(DateTime64(6, 'UTC'), UInt8, Float32, Float32))),
    duration SimpleAggregateFunction(max, Float64),
    first_viewed_at SimpleAggregateFunction(min, DateTime64(6, 'UTC')),
    last_viewed_at SimpleAggregateFunction(max, DateTime64(6, 'UTC'))
)
ENGINE = ${replicated}AggregatingMergeTree
ORDER BY (course_key, video_id, user_id)
SETTINGS index_granularity = 1024;

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
