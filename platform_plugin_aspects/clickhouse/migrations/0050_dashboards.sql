-- What the shipped Superset dashboards read beyond the analytics model's own views (issue 12).
--
-- Superset datasets cannot call the query module, so a chart needs a view. Two course figures the
-- query module computes in Python-built SQL get a plain view here, over the model's tables and
-- with the same definitions (enrolled learners only, bitmaps merged so a learner counts once):
--   * analytics_weekly_active: learners active per calendar week (Monday to Sunday);
--   * analytics_enrollment_mode_daily: enrollment events per day and mode.
-- Both carry org and course_key, so the guest token's row-level security applies.
--
-- The Operator dashboard (global staff only, never embedded) reads delivery health, which lives in
-- the LMS database (the outbox) and is copied here by `aspects_status --record` / the
-- record_delivery_health task, one snapshot per run.

CREATE VIEW IF NOT EXISTS ${database}.analytics_weekly_active ${on_cluster} AS
SELECT
    any(d.org) AS org, d.course_key AS course_key, toMonday(d.day) AS week,
    bitmapCardinality(bitmapAnd(groupBitmapMergeState(d.learners), any(e.enrolled))) AS active_learners
FROM ${database}.analytics_course_daily AS d
INNER JOIN
(
    SELECT course_key, groupBitmapState(toUInt64(user_id)) AS enrolled FROM ${database}.course_enrollment FINAL
    GROUP BY course_key
) AS e ON e.course_key = d.course_key
GROUP BY d.course_key, week;

CREATE VIEW IF NOT EXISTS ${database}.analytics_enrollment_mode_daily ${on_cluster} AS
SELECT
    any(org) AS org, course_key, day, mode,
    groupBitmapMergeIf(learners, action = 'activated') AS enrollments,
    groupBitmapMergeIf(learners, action = 'deactivated') AS unenrollments
FROM ${database}.analytics_enrollment_daily
GROUP BY course_key, day, mode;

-- One row per sink and snapshot: the outbox and delivery state `aspects_status` reports.
CREATE TABLE IF NOT EXISTS ${database}.delivery_health ${on_cluster}
(
    checked_at DateTime64(3, 'UTC'),
    sink LowCardinality(String),
    enabled Bool,
    waiting UInt64,
    oldest_secs Nullable(Float64),
    rejected UInt64,
    delivered UInt64,
    last_success Nullable(DateTime64(3, 'UTC')),
    last_failure Nullable(DateTime64(3, 'UTC')),
    last_error String
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMM(checked_at)
ORDER BY (checked_at, sink)
TTL toDateTime(checked_at) + INTERVAL 90 DAY;

-- One row per table and snapshot: rows and the newest version written (freshness).
CREATE TABLE IF NOT EXISTS ${database}.table_freshness ${on_cluster}
(
    checked_at DateTime64(3, 'UTC'),
    table_name LowCardinality(String),
    row_count UInt64,
    latest_write Nullable(DateTime64(3, 'UTC')),
    age_secs Nullable(Float64)
)
ENGINE = ${replicated}MergeTree
PARTITION BY toYYYYMM(checked_at)
ORDER BY (checked_at, table_name)
TTL toDateTime(checked_at) + INTERVAL 90 DAY;
