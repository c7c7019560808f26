-- The course analytics model, part 8c: each learner's kept row also carries the course's lowest
-- passing grade, so the learner status and the at-risk list (their "grade 0.31 below 0.50") read
-- no other table: looking it up in course_overviews at each read was a fifth of the MOOC's at-risk
-- top 100.
--
-- Numbered 0037_* so it applies before 0038 (repeatable views that read the column). The refresh
-- that keeps it, and the copy that fills it into the rows kept before, are 0041's.
--
-- course_overviews.inserted_at: when an overview row reached ClickHouse, as for enrollments and
-- grades (0037_analytics_learner_rollup_status). A course whose overview is stamped after the
-- readers' watermark counts as changed: until the refresh has passed it, readers take the
-- passing grade from the overview rather than from the kept rows. Existing rows get the
-- migration's time.

ALTER TABLE ${database}.course_overviews ${on_cluster}
    ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT now64(3);

ALTER TABLE ${database}.course_overviews ${on_cluster}
    MATERIALIZE COLUMN inserted_at SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.course_overviews ${on_cluster}
    ADD INDEX IF NOT EXISTS inserted_at_minmax inserted_at TYPE minmax GRANULARITY 1;

-- NULL: the course sets none (readers use ASPECTS_ANALYTICS_DEFAULT_PASSING_GRADE).
ALTER TABLE ${database}.analytics_learner_rollup ${on_cluster}
    ADD COLUMN IF NOT EXISTS passing_grade Nullable(Float64);
