-- The course analytics model, part 13: keep analytics_video_watch (0034) with the enrollment flag
-- of 0034_analytics_video_watch_enrolled.
--
-- Replaces the refresh of 0036 by one that also writes `enrolled`: every minute, ClickHouse pairs
-- the points of the learners with a point or an enrollment row stamped since the watermark (see
-- 0035), flags whether each is enrolled, and appends the results, plus the heartbeat row
-- (course_key '', user_id -1) stamped with the refresh's start: the readers' watermark, less
-- ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS. Rows appended by the old refresh on a new install (0036 runs
-- before this) lack the flag and are emptied again.
-- Operators may change the period: ALTER TABLE <db>.analytics_video_watch_refresh MODIFY REFRESH EVERY 5 MINUTE.

DROP VIEW IF EXISTS ${database}.analytics_video_watch_refresh ${on_cluster} SYNC;

TRUNCATE TABLE IF EXISTS ${database}.analytics_video_watch ${on_cluster} SYNC;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_video_watch_refresh ${on_cluster}
REFRESH EVERY 1 MINUTE APPEND TO ${database}.analytics_video_watch AS
SELECT org, course_key, video_id, user_id, plays, duration, watched_seconds, segments, buckets,
       first_viewed_at, last_viewed_at, source_changed_at, enrolled
FROM ${database}.analytics_video_watch_compute_for(course_keys = [])
UNION ALL
-- The heartbeat: when this refresh started (readers' watermark), whether or not anything changed.
SELECT '', '', '', -1, 0, 0, 0, [], [], now64(6), now64(6), now64(3), 0;
