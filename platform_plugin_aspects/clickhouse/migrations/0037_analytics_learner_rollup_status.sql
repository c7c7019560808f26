-- The course analytics model, part 8b: each learner's kept row also carries their enrollment and
-- grade, so a learner's status (and the at-risk list, the funnel) reads one table instead of
-- joining enrollments, activity and grades of every learner of the course at each read.
--
-- Numbered 0037_* so it applies before 0038 (repeatable views that read these columns). The
-- refresh that fills the new columns is re-created by 0040, which also empties the kept rows
-- (they lack the new columns): until its first refresh the readers compute every learner
-- themselves, exactly, as on a new install.
--
-- inserted_at: when a row reached ClickHouse (the sinks name their columns, so every insert stamps
-- the server's clock, a deletion's tombstone included). A learner whose enrollment or grade row
-- is stamped after the readers' watermark counts as changed, as for new activity (0037). Existing
-- rows get the migration's time. The minmax index lets the refresh skip the parts written before
-- its watermark.

ALTER TABLE ${database}.course_enrollment ${on_cluster}
    ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT now64(3);

ALTER TABLE ${database}.course_enrollment ${on_cluster}
    MATERIALIZE COLUMN inserted_at SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.course_enrollment ${on_cluster}
    ADD INDEX IF NOT EXISTS inserted_at_minmax inserted_at TYPE minmax GRANULARITY 1;

ALTER TABLE ${database}.course_grades ${on_cluster}
    ADD COLUMN IF NOT EXISTS inserted_at DateTime64(3, 'UTC') DEFAULT now64(3);

ALTER TABLE ${database}.course_grades ${on_cluster}
    MATERIALIZE COLUMN inserted_at SETTINGS mutations_sync = 2;

ALTER TABLE ${database}.course_grades ${on_cluster}
    ADD INDEX IF NOT EXISTS inserted_at_minmax inserted_at TYPE minmax GRANULARITY 1;

ALTER TABLE ${database}.analytics_learner_activity ${on_cluster}
    ADD INDEX IF NOT EXISTS changed_at_minmax changed_at TYPE minmax GRANULARITY 1;

-- A kept row per (course, learner) with any activity, enrollment or grade; a row with neither
-- activity nor enrollment (an enrollment deleted since) masks the learner's older row.
-- has_activity 0: first/last_activity_at are the epoch and the counts 0. enrolled 0: no
-- enrollment row (the mode, state and date are then empty). graded 0: no grade row yet.
ALTER TABLE ${database}.analytics_learner_rollup ${on_cluster}
    ADD COLUMN IF NOT EXISTS has_activity UInt8 DEFAULT 1,
    ADD COLUMN IF NOT EXISTS enrolled UInt8 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS enrollment_mode LowCardinality(String) DEFAULT '',
    ADD COLUMN IF NOT EXISTS is_active Bool DEFAULT false,
    ADD COLUMN IF NOT EXISTS enrolled_at String DEFAULT '',
    ADD COLUMN IF NOT EXISTS graded UInt8 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS percent_grade Float64 DEFAULT 0,
    ADD COLUMN IF NOT EXISTS letter_grade String DEFAULT '',
    ADD COLUMN IF NOT EXISTS is_passing Bool DEFAULT false;
