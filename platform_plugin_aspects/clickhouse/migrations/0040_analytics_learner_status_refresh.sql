-- The course analytics model, part 11: keep analytics_learner_rollup with the enrollment and grade
-- columns of 0037_analytics_learner_rollup_status.
--
-- Replaces the refresh of 0039 (which names only the activity columns) by one that keeps whole
-- rows: every minute, ClickHouse computes the learners with activity, an enrollment or a grade
-- stamped since the watermark (see 0038) and appends their rows, plus the heartbeat row
-- (course_key '', user_id -1) holding the refresh's start and the readers' watermark: the start
-- less ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS. (A margin raised takes full effect once the old one
-- has passed: the table keeps the heartbeat with the latest watermark.)
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
-- The heartbeat, whether or not anything changed: when this refresh started (last_activity_at)
-- and the readers' watermark (source_changed_at: the start less the margin, see 0038).
SELECT '', '', -1, now64(6), now64(6), NULL, [], 0, 0, 0, 0,
       now64(3) - toIntervalSecond((SELECT toUInt32(if(count() = 0, 600, argMax(value, updated_at)))
                                    FROM ${database}.analytics_settings WHERE name = 'video_watch_margin_secs')),
       0, 0, '', false, '', 0, 0, '', false;
