-- New: each learner's current course grade, so grades can be joined with enrollments and events.
-- Filled from PERSISTENT_GRADE_SUMMARY_CHANGED / COURSE_PASSING_STATUS_UPDATED and by the backfill.
CREATE TABLE IF NOT EXISTS ${database}.course_grades ${on_cluster}
(
    id Int64,
    user_id Int32,
    course_key String,
    org String,
    percent_grade Float64,
    letter_grade String,
    is_passing Bool,
    passed_timestamp String,
    course_version String,
    grading_policy_hash String,
    created String,
    modified String,
    dump_id UUID,
    time_last_dumped String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ${replicated}ReplacingMergeTree(version, is_deleted)
ORDER BY (course_key, user_id);
