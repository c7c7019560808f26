-- The sink tables, with the column names and types the Aspects dbt models and dashboards read.
--
-- What we changed, and why:
--   * Every table has `version UInt64` and `is_deleted UInt8` and the engine is
--     ReplacingMergeTree(version, is_deleted) ordered by the object's identity only. Upstream put
--     time_last_dumped into every sort key, so versions never collapsed and storage grew with every
--     save. Here re-delivery and retries replace the row instead of adding one, `FINAL` (or
--     argMax(..., version)) gives the current state, and a delete is a tombstone row with
--     is_deleted = 1 that FINAL hides and merges remove.
--   * `dump_id` and `time_last_dumped` are kept for compatibility; dump_id identifies one delivery
--     batch and time_last_dumped is written in one format everywhere (YYYY-MM-DD HH:MM:SS.ffffff+00:00).
--   * user_profile and external_id are not partitioned by user_id % 100 as upstream's were: with
--     batched inserts that split every insert into up to 100 parts (slow inserts, merge pressure),
--     and nothing reads by partition.
--   * Foreign keys that can be NULL (tag.parent, object_tag.taxonomy/tag) are Nullable instead of
--     values that upstream's error-tolerant CSV inserts silently dropped.

CREATE TABLE IF NOT EXISTS ${database}.course_overviews ${on_cluster}
(
    org String,
    course_key String,
    display_name String,
    course_start String,
    course_end String,
    enrollment_start String,
    enrollment_end String,
    self_paced Bool,
    course_data_json String,
    created String,
    modified String,
    dump_id UUID,
    time_last_dumped String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ${replicated}ReplacingMergeTree(version, is_deleted)
ORDER BY (org, course_key);

CREATE TABLE IF NOT EXISTS ${database}.course_blocks ${on_cluster}
(
    org String,
    course_key String,
    location String,
    display_name String,
    xblock_data_json String,
    `order` Int32 DEFAULT 0,
    edited_on String,
    dump_id UUID,
    time_last_dumped String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ${replicated}ReplacingMergeTree(version, is_deleted)
ORDER BY (org, course_key, location);

CREATE TABLE IF NOT EXISTS ${database}.course_enrollment ${on_cluster}
(
    id Int32,
    course_key String,
    created String,
    is_active Bool,
    mode LowCardinality(String),
    username String,
    user_id Int32,
    dump_id UUID,
    time_last_dumped String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ${replicated}ReplacingMergeTree(version, is_deleted)
ORDER BY (course_key, user_id, id);

CREATE TABLE IF NOT EXISTS ${database}.user_profile ${on_cluster}
(
    id Int32,
    user_id Int32,
    name String,
    username String,
    email String,
    meta String,
    courseware String,
    language String,
    location String,
    year_of_birth String,
    gender String,
    level_of_education String,
    mailing_address String,
    city String,
    country String,
    state String,
    goals String,
    bio String,
    profile_image_uploaded_at String,
    phone_number String,
    dump_id UUID,
    time_last_dumped String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ${replicated}ReplacingMergeTree(version, is_deleted)
ORDER BY (id);

CREATE TABLE IF NOT EXISTS ${database}.external_id ${on_cluster}
(
    external_user_id UUID,
    external_id_type String,
    username String,
    user_id Int32,
    dump_id UUID,
    time_last_dumped String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ${replicated}ReplacingMergeTree(version, is_deleted)
ORDER BY (external_user_id);

CREATE TABLE IF NOT EXISTS ${database}.tag ${on_cluster}
(
    id Int32,
    taxonomy Nullable(Int32),
    parent Nullable(Int32),
    value String,
    external_id String,
    lineage String,
    dump_id UUID,
    time_last_dumped String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ${replicated}ReplacingMergeTree(version, is_deleted)
ORDER BY (id);

CREATE TABLE IF NOT EXISTS ${database}.taxonomy ${on_cluster}
(
    id Int32,
    name String,
    dump_id UUID,
    time_last_dumped String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ${replicated}ReplacingMergeTree(version, is_deleted)
ORDER BY (id);

CREATE TABLE IF NOT EXISTS ${database}.object_tag ${on_cluster}
(
    id Int32,
    object_id String,
    taxonomy Nullable(Int32),
    tag Nullable(Int32),
    _value String,
    _export_id String,
    lineage String,
    dump_id UUID,
    time_last_dumped String,
    version UInt64,
    is_deleted UInt8 DEFAULT 0
)
ENGINE = ${replicated}ReplacingMergeTree(version, is_deleted)
ORDER BY (id);
