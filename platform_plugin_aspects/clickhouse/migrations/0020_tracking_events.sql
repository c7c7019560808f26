-- Tracking-log events (issue 5): the live backend and `load_tracking_log` write here.
--
-- * tracking_events: one row per event. event_id is a UUID derived from the canonical event
--   (uuid5 over its JSON with sorted keys), so an event delivered twice (live and again from the
--   log loader, or re-sent after a retry) has the same id and the same sort key, and
--   ReplacingMergeTree folds the copies together. Count with FINAL or uniqExact(event_id).
--   Partitioned by month (cheap TTL and drops), ordered for per-course time ranges.
-- * tracking_rejects: what could not be parsed (bad JSON, not UTF-8, no time, too big...), with
--   the reason and the raw line (cut at 64 KiB; raw_size keeps the original size), so nothing
--   is silently dropped.
-- * tracking_load_checkpoints: where load_tracking_log stopped in each file (fingerprint of the
--   first line + byte offset of the uncompressed stream), so an interrupted load resumes.
-- * course_grades: created here only if the grades sink migration has not created it yet, so
--   the example views below always have something to join.
-- * Example views joining events with enrollments, grades and profiles (see README).

CREATE TABLE IF NOT EXISTS ${database}.tracking_events ${on_cluster}
(
    event_id UUID,
    time DateTime64(6, 'UTC'),
    name LowCardinality(String),
    event_type String,
    event_source LowCardinality(String),
    user_id Nullable(Int64),
    username String,
    course_key String,
    org LowCardinality(String),
    block_id String,
    session String,
    page String,
    referer String,
    agent String,
    ip String,
    host String,
    context String,
    event String,
    loaded_from LowCardinality(String) DEFAULT 'live',
    received_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${replicated}ReplacingMergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (org, course_key, time, event_id);

CREATE TABLE IF NOT EXISTS ${database}.tracking_rejects ${on_cluster}
(
    reject_id UUID,
    received_at DateTime64(3, 'UTC') DEFAULT now64(3),
    reason String,
    raw String,
    raw_size UInt64,
    source_file String,
    source_offset UInt64
)
ENGINE = ${replicated}ReplacingMergeTree
ORDER BY (reject_id);

CREATE TABLE IF NOT EXISTS ${database}.tracking_load_checkpoints ${on_cluster}
(
    fingerprint String,
    path String,
    offset UInt64,
    complete Bool,
    events UInt64,
    rejects UInt64,
    updated_at DateTime64(6, 'UTC') DEFAULT now64(6)
)
ENGINE = ${replicated}ReplacingMergeTree(updated_at)
ORDER BY (fingerprint);

-- The views below read course_grades, created by 0002_course_grades.

-- Every event with the learner's current enrollment, grade and (non-identifying) profile.
-- Without a match (anonymous events, learners not enrolled or not graded) those columns are NULL.
CREATE VIEW IF NOT EXISTS ${database}.tracking_events_enriched ${on_cluster} AS
SELECT
    e.event_id AS event_id, e.time AS time, e.name AS name, e.event_type AS event_type,
    e.event_source AS event_source, e.org AS org, e.course_key AS course_key, e.block_id AS block_id,
    e.user_id AS user_id, e.username AS username,
    enr.mode AS enrollment_mode, enr.is_active AS enrollment_is_active, enr.created AS enrolled_at,
    g.percent_grade AS percent_grade, g.letter_grade AS letter_grade, g.is_passing AS is_passing,
    p.country AS country, p.level_of_education AS level_of_education, p.year_of_birth AS year_of_birth
FROM ${database}.tracking_events AS e FINAL
LEFT JOIN
(
    SELECT course_key, toInt64(user_id) AS user_id, mode, is_active, created
    FROM ${database}.course_enrollment FINAL
) AS enr ON enr.course_key = e.course_key AND enr.user_id = e.user_id
LEFT JOIN
(
    SELECT course_key, toInt64(user_id) AS user_id, percent_grade, letter_grade, is_passing
    FROM ${database}.course_grades FINAL
) AS g ON g.course_key = e.course_key AND g.user_id = e.user_id
LEFT JOIN
(
    SELECT toInt64(user_id) AS user_id, country, level_of_education, year_of_birth
    FROM ${database}.user_profile FINAL
) AS p ON p.user_id = e.user_id
SETTINGS join_use_nulls = 1;

-- Active learners (distinct users with at least one event) and events per course per day.
CREATE VIEW IF NOT EXISTS ${database}.tracking_daily_activity ${on_cluster} AS
SELECT
    org, course_key, toDate(time) AS day,
    uniqExact(user_id) AS active_learners,
    count() AS events
FROM ${database}.tracking_events FINAL
WHERE user_id IS NOT NULL AND course_key != ''
GROUP BY org, course_key, day;
