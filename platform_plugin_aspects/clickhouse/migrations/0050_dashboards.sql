-- What the shipped Superset dashboards read beyond the analytics model's own views (issue 12).
--
-- Superset datasets cannot call the query module, so a chart needs a view:
--   * analytics_weekly_active: enrolled learners active per calendar week (Monday to Sunday), over
--     the model's tables with the query module's definition (bitmaps merged: a learner counts once);
--   * analytics_enrollments_by_mode: current enrollments by creation day and mode (the model counts
--     enrollment *events*, which a site has only since its tracking backend was on).
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

-- Current enrollments by the day they were created and their current mode (from the sink table, so
-- enrollments that predate the tracking backend, loaded by the backfill, count too).
CREATE VIEW IF NOT EXISTS ${database}.analytics_enrollments_by_mode ${on_cluster} AS
SELECT
    if(position(course_key, ':') > 0, splitByChar('+', splitByChar(':', course_key)[2])[1],
       splitByChar('/', course_key)[1]) AS org,
    course_key, toDate(ifNull(parseDateTime64BestEffortOrNull(created), toDateTime64(0, 6))) AS day, mode,
    count() AS enrollments, countIf(is_active) AS active_enrollments
FROM ${database}.course_enrollment FINAL
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
