-- Retirement (issue 16) clears a batch of learners' personal columns with one lightweight
-- `UPDATE ... SET ... WHERE user_id IN (...)` per table: ClickHouse writes a small patch part
-- holding only the changed rows instead of rewriting the touched columns of every part, which is
-- what `ALTER TABLE ... UPDATE` does (benchmarks/retirement.py: the cost on 10M events).
-- Lightweight updates need the block number and offset columns; new parts get them from now on,
-- and existing parts are read with them without being rewritten.
-- Tables added later that keep personal columns next to a user_id should set the same two
-- settings in their CREATE TABLE (docs/concepts/privacy.rst); without them retirement falls back
-- to ALTER TABLE ... UPDATE for that table.

ALTER TABLE ${database}.tracking_events ${on_cluster}
    MODIFY SETTING enable_block_number_column = 1, enable_block_offset_column = 1;

ALTER TABLE ${database}.course_enrollment ${on_cluster}
    MODIFY SETTING enable_block_number_column = 1, enable_block_offset_column = 1;
