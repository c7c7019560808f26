-- The course analytics model, part 5: what each learner watched of each video, kept computed.
--
-- A learner's watched segments are paired from all their play/pause/seek/stop points of a video
-- (analytics_video_learner.points), which keeps them exact however late or twice events arrive,
-- but pairing two million points of a MOOC on every read is what made its video figures slow.
-- analytics_video_watch keeps the result per (course, video, learner), recomputed by the
-- refreshable materialized view of 0036 for the rows whose points changed since its last run;
-- readers (0035) take the kept row where the points have not changed since, and pair the points
-- of the few rows that have (so a figure is always exact, whether or not a refresh ran).
--
-- changed_at: when a row's points last changed (the insert that brought them: the materialized
-- view of 0031 does not name the column, so each insert stamps its default, the server's clock).
-- Existing rows get the migration's time, so the first refresh computes all of them.

ALTER TABLE ${database}.analytics_video_learner ${on_cluster}
    ADD COLUMN IF NOT EXISTS changed_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) DEFAULT now64(3);

ALTER TABLE ${database}.analytics_video_learner ${on_cluster}
    MATERIALIZE COLUMN changed_at SETTINGS mutations_sync = 2;

-- One row per (course, video, learner) and version: ReplacingMergeTree keeps the one computed
-- from the newest points (source_changed_at); readers use FINAL. Not filtered by enrollment
-- (readers do that: enrollment changes after the events). buckets: the twentieths of the video
-- the merged segments cover (0 = first 5%), for drop-off.
CREATE TABLE IF NOT EXISTS ${database}.analytics_video_watch ${on_cluster}
(
    org String,
    course_key String,
    video_id String,
    user_id Int64,
    plays UInt32,
    duration Float64,
    watched_seconds Float64,
    segments Array(Tuple(Float64, Float64)),
    buckets Array(UInt8),
    first_viewed_at DateTime64(6, 'UTC'),
    last_viewed_at DateTime64(6, 'UTC'),
    source_changed_at DateTime64(3, 'UTC')
)
ENGINE = ${replicated}ReplacingMergeTree(source_changed_at)
ORDER BY (course_key, video_id, user_id)
SETTINGS index_granularity = 1024;
