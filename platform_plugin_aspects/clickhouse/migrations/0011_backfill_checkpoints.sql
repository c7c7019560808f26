-- Where each `dump_data_to_clickhouse` backfill got to, so an interrupted run resumes instead of
-- starting over. One row per object (sink name); the newest version wins. last_pk is the primary
-- key of the last object written, as text (integers and course keys alike); finished = 1 once a
-- pass reached the end, so the next run starts a fresh pass.

CREATE TABLE IF NOT EXISTS ${database}.backfill_checkpoints ${on_cluster}
(
    object String,
    last_pk String,
    dumped UInt64,
    finished UInt8,
    updated_at DateTime64(3, 'UTC') DEFAULT now64(3),
    version UInt64
)
ENGINE = ${replicated}ReplacingMergeTree(version)
ORDER BY object;
