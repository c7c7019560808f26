-- The course analytics model, part 7: keep analytics_video_watch (0034) computed.
--
-- A refreshable materialized view: every minute, ClickHouse pairs the points of the learners
-- whose video points changed since the watermark (see 0035) and appends the results; the
-- ReplacingMergeTree keeps the newest per learner-video. Readers are exact with or without it
-- (they pair what changed since themselves); it keeps reads fast. Each refresh also appends a
-- heartbeat row (course_key '', user_id -1) stamped with its start: the readers' watermark.
-- A refresh reads only the
-- changed learners' rows, so its cost follows the site's activity, not its size. Operators may
-- change the period: ALTER TABLE <db>.analytics_video_watch_refresh MODIFY REFRESH EVERY 5 MINUTE.

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_video_watch_refresh ${on_cluster}
REFRESH EVERY 1 MINUTE APPEND TO ${database}.analytics_video_watch AS
SELECT org, course_key, video_id, user_id, plays, duration, watched_seconds, segments, buckets,
       first_viewed_at, last_viewed_at, source_changed_at
FROM ${database}.analytics_video_watch_compute_for(course_keys = [])
UNION ALL
-- The heartbeat: when this refresh started (readers' watermark), whether or not anything changed.
SELECT '', '', '', -1, 0, 0, 0, [], [], now64(6), now64(6), now64(3);
