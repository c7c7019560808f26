-- The course analytics model, part 5b: each kept learner-video also says whether its learner is
-- enrolled in the course, so the video reports filter on a column of the kept rows instead of
-- looking each row's learner up in the course's enrollments (see 0035: a learner whose enrollment
-- row is stamped after the readers' watermark counts as changed, so the flag of every other kept
-- row is exact).
--
-- Numbered 0034_* so it applies before 0035 (repeatable views that read the column). The rows kept
-- before lack the flag: the old refresh (0036) goes and the kept rows are emptied here, so that
-- until the first refresh of 0042 (which writes the flag) the readers pair every learner's points
-- themselves (exact, slower), as on a new install, and never read a row without it.

ALTER TABLE ${database}.analytics_video_watch ${on_cluster}
    ADD COLUMN IF NOT EXISTS enrolled UInt8 DEFAULT 0;

-- When each enrollment row reached ClickHouse, which 0035's views read: the column of
-- 0037_analytics_learner_rollup_status (whose own statements then change nothing), added here on a
-- site that does not have it yet. Existing rows get the migration's time (every learner counts as
-- changed until the refreshes have passed it).
ALTER TABLE ${database}.course_enrollment ${on_cluster}
    ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT now64(3);

ALTER TABLE ${database}.course_enrollment ${on_cluster}
    MATERIALIZE COLUMN inserted_at SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.course_enrollment ${on_cluster}
    ADD INDEX IF NOT EXISTS inserted_at_minmax inserted_at TYPE minmax GRANULARITY 1;

DROP VIEW IF EXISTS ${database}.analytics_video_watch_refresh ${on_cluster} SYNC;

TRUNCATE TABLE IF EXISTS ${database}.analytics_video_watch ${on_cluster} SYNC;
