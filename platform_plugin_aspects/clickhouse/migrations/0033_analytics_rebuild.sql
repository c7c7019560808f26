-- Where `aspects_rebuild_analytics` got to: one row per finished chunk (a course and a time range)
-- of a run (its --course/--since arguments), so an interrupted run resumes with the next chunk.
-- A run that reaches the end removes its rows, so the next run starts over.

CREATE TABLE IF NOT EXISTS ${database}.analytics_rebuild_checkpoints ${on_cluster}
(
    run_key String,
    chunk String,
    events UInt64,
    block_ids_fixed UInt64,
    done_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ${replicated}ReplacingMergeTree(done_at)
ORDER BY (run_key, chunk);
