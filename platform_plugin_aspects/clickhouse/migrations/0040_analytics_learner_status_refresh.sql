-- The course analytics model, part 11: keep analytics_learner_rollup with the enrollment and grade
-- columns of 0037_analytics_learner_rollup_status.
--
-- Replaces the refresh of 0039 (which names only the activity columns) by one that keeps whole
-- rows: every minute, ClickHouse computes the learners with activity, an enrollment or a grade
-- stamped since the watermark (see 0038) and appends their rows, plus the heartbeat row
-- (course_key '', user_id -1) stamped with the refresh's start: the readers' watermark.
--
-- The kept rows written before (without enrollment and grade) are emptied: until the first
-- refresh the readers compute every learner themselves (exact, slower), then read kept rows again.
-- Operators may change the period: ALTER TABLE <db>.analytics_learner_rollup_refresh MODIFY REFRESH EVERY 5 MINUTE.

DROP VIEW IF EXISTS ${database}.analytics_learner_rollup_refresh ${on_cluster} SYNC;

TRUNCATE TABLE IF EXISTS ${database}.analytics_learner_rollup ${on_cluster} SYNC;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_learner_rollup_refresh ${on_cluster}
REFRESH EVERY 1 MINUTE APPEND TO ${database}.analytics_learner_rollup AS
SELECT org, course_key, user_id, first_activity_at, last_activity_at, first_engaged_at, active_days,
       problems_attempted, problems_solved, videos_watched, events, source_changed_at, has_activity,
       enrolled, enrollment_mode, is_active, enrolled_at, graded, percent_grade, letter_grade, is_passing
FROM ${database}.analytics_learner_rollup_compute_for(course_keys = [], user_ids = [])
UNION ALL
-- The heartbeat: when this refresh started (readers' watermark), whether or not anything changed.
SELECT '', '', -1, now64(6), now64(6), NULL, [], 0, 0, 0, 0, now64(3), 0, 0, '', false, '', 0, 0, '', false;
