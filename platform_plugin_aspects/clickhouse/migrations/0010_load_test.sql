-- Load-test bookkeeping for `load_test_tracking_events` and `monitor_load_test_tracking`.
--
-- load_test_runs: one 'start' and one 'end' row per run (extra is JSON: tags, course, users, rate,
--   and on 'end' the number of changes sent). A run is finished when it has an 'end' row.
-- load_test_stats: one row per monitor sample; stats is JSON (outbox depth and oldest age, failed
--   entries, Celery queue lengths, rows and freshness per table, lag_secs).
-- Plain MergeTree: these are append-only logs, never updated.

CREATE TABLE IF NOT EXISTS ${database}.load_test_runs ${on_cluster}
(
    run_id String,
    timestamp DateTime64(6, 'UTC') DEFAULT now64(6),
    event_type LowCardinality(String),
    extra String
)
ENGINE = ${replicated}MergeTree
ORDER BY (run_id, timestamp);

CREATE TABLE IF NOT EXISTS ${database}.load_test_stats ${on_cluster}
(
    run_id String,
    timestamp DateTime64(6, 'UTC') DEFAULT now64(6),
    stats String
)
ENGINE = ${replicated}MergeTree
ORDER BY (run_id, timestamp);
