-- The course analytics model, part 10: keep analytics_learner_rollup (0037) merged.
--
-- A refreshable materialized view, as for the video pairings (0036): every minute, ClickHouse
-- merges the activity of the learners whose activity changed since the watermark (see 0038) and
-- appends the results; the ReplacingMergeTree keeps the newest per (course, learner). Readers are
-- exact with or without it; it keeps their reads fast. Each refresh also appends a heartbeat row
-- (course_key '', user_id -1) stamped with its start: the readers' watermark. A refresh reads only
-- the changed learners' rows, so its cost follows the site's activity, not its size. Operators may
-- change the period: ALTER TABLE <db>.analytics_learner_rollup_refresh MODIFY REFRESH EVERY 5 MINUTE.

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_learner_rollup_refresh ${on_cluster}
REFRESH EVERY 1 MINUTE APPEND TO ${database}.analytics_learner_rollup AS
SELECT org, course_key, user_id, first_activity_at, last_activity_at, first_engaged_at, active_days,
       problems_attempted, problems_solved, videos_watched, events, source_changed_at
FROM ${database}.analytics_learner_rollup_compute_for(course_keys = [], user_ids = [])
UNION ALL
-- The heartbeat: when this refresh started (readers' watermark), whether or not anything changed.
SELECT '', '', -1, now64(6), now64(6), NULL, [], 0, 0, 0, 0, now64(3);
