-- The course analytics model, part 14: the course and block ids of the model's tables stored as
-- LowCardinality(String).
--
-- A course holds a few hundred blocks and a site a few thousand courses, while the per-learner
-- tables repeat those ids on every row: the MOOC of benchmarks/analytics.py has 650,000
-- learner-problem rows and 880,000 kept learner-video rows, and its problem and video reports read
-- about 85 of their 100 MB as the 60-byte usage keys. A dictionary-encoded column reads as small
-- integers per row: a third of the bytes, and the MOOC's per-problem and per-video sums 25-40%
-- faster (docs/reference/analytics.rst). The sort order, the values and every query stay the same.
--
-- On an existing site each ALTER rewrites that table's id columns (nothing else) and the migration
-- waits for it, so the reports never read a half-converted table for long: 2.7 s for the
-- benchmark's site of 20 million events, growing with the number of rows.

ALTER TABLE ${database}.analytics_learner_activity ${on_cluster}
    MODIFY COLUMN org SimpleAggregateFunction(any, LowCardinality(String)),
    MODIFY COLUMN course_key LowCardinality(String)
    SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.analytics_course_daily ${on_cluster}
    MODIFY COLUMN org SimpleAggregateFunction(any, LowCardinality(String)),
    MODIFY COLUMN course_key LowCardinality(String)
    SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.analytics_enrollment_daily ${on_cluster}
    MODIFY COLUMN org SimpleAggregateFunction(any, LowCardinality(String)),
    MODIFY COLUMN course_key LowCardinality(String)
    SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.analytics_block_activity ${on_cluster}
    MODIFY COLUMN org SimpleAggregateFunction(any, LowCardinality(String)),
    MODIFY COLUMN course_key LowCardinality(String),
    MODIFY COLUMN block_id LowCardinality(String)
    SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.analytics_problem_learner ${on_cluster}
    MODIFY COLUMN org SimpleAggregateFunction(any, LowCardinality(String)),
    MODIFY COLUMN course_key LowCardinality(String),
    MODIFY COLUMN problem_id LowCardinality(String)
    SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.analytics_video_learner ${on_cluster}
    MODIFY COLUMN org SimpleAggregateFunction(any, LowCardinality(String)),
    MODIFY COLUMN course_key LowCardinality(String),
    MODIFY COLUMN video_id LowCardinality(String)
    SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.analytics_video_watch ${on_cluster}
    MODIFY COLUMN org LowCardinality(String),
    MODIFY COLUMN course_key LowCardinality(String),
    MODIFY COLUMN video_id LowCardinality(String)
    SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.analytics_learner_rollup ${on_cluster}
    MODIFY COLUMN org LowCardinality(String),
    MODIFY COLUMN course_key LowCardinality(String)
    SETTINGS mutations_sync = 2;
