-- The course analytics model, part 8: each learner's activity in a course, kept merged.
--
-- analytics_learner_activity (0030) is an AggregatingMergeTree: a learner's row is merged from the
-- rows of every insert that touched them, so readers use FINAL, which unions their day, problem
-- and video arrays and merges their uniqExact state on every read (a MOOC of 50,000 learners:
-- most of the time of its learner status, at-risk list and funnel). analytics_learner_rollup
-- keeps that merge done, as plain columns, per (course, learner); the refreshable materialized
-- view of 0039 recomputes the learners whose activity changed since its last run, and readers
-- (0038) take the kept row of every learner with no change since, and merge the few others
-- themselves, so a figure is exact whether or not a refresh ran (the pattern of the video
-- pairings, 0034-0036).
--
-- changed_at: when a learner's activity last changed (the insert that brought it: the
-- materialized view of 0031 does not name the column, so each insert stamps its default, the
-- server's clock). Existing rows get the migration's time, so the first refresh keeps all of them.

ALTER TABLE ${database}.analytics_learner_activity ${on_cluster}
    ADD COLUMN IF NOT EXISTS changed_at SimpleAggregateFunction(max, DateTime64(3, 'UTC')) DEFAULT now64(3);

ALTER TABLE ${database}.analytics_learner_activity ${on_cluster}
    MATERIALIZE COLUMN changed_at SETTINGS mutations_sync = 2;

-- One row per (course, learner) and version: ReplacingMergeTree keeps the one merged from the
-- newest activity (source_changed_at); readers use FINAL (cheap: it picks a row, merges nothing).
-- Not filtered by enrollment (readers do that). Counts instead of the arrays of 0030, but for the
-- active days, which readers filter by their as-of day.
CREATE TABLE IF NOT EXISTS ${database}.analytics_learner_rollup ${on_cluster}
(
    org String,
    course_key String,
    user_id Int64,
    first_activity_at DateTime64(6, 'UTC'),
    last_activity_at DateTime64(6, 'UTC'),
    first_engaged_at Nullable(DateTime64(6, 'UTC')),
    active_days Array(Date),
    problems_attempted UInt32,
    problems_solved UInt32,
    videos_watched UInt32,
    events UInt64,
    source_changed_at DateTime64(3, 'UTC')
)
ENGINE = ${replicated}ReplacingMergeTree(source_changed_at)
ORDER BY (course_key, user_id)
SETTINGS index_granularity = 1024;
