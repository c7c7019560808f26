-- repeatable: views
-- (tests/test_analytics.py: the one view of 0035 that the refresh of 0036 reads, as it was before
-- 0042 — without the enrollment flag. A site migrated with it is upgraded.)

CREATE OR REPLACE VIEW ${database}.analytics_video_watch_compute_for ${on_cluster} AS
-- In stages, one subquery each: a column used several times is then computed and analyzed once
-- (an alias used twice in one SELECT is analyzed twice, and these nest: written as one SELECT,
-- ClickHouse spent longer planning the video reports than running them).
SELECT
    org, course_key, video_id, user_id, plays, duration, watched_seconds, segments,
    if(duration > 0, arrayMap(b -> toUInt8(b), arraySort(arrayDistinct(arrayFlatten(arrayMap(
        s -> range(toUInt32(least(floor(s.1 / duration * 20), 19)),
                   toUInt32(least(greatest(ceil(s.2 / duration * 20), floor(s.1 / duration * 20) + 1), 20))),
        segments))))), []) AS buckets,
    first_viewed_at, last_viewed_at, source_changed_at
FROM
(
    -- Covered where the running depth > 0: the watched seconds and the merged segments.
    SELECT
        org, course_key, video_id, user_id, plays, duration, first_viewed_at, last_viewed_at, source_changed_at,
        arraySum((gap, n) -> if(n > 0, gap, 0), arrayPopFront(arrayDifference(positions)), arrayPopBack(depth))
            AS watched_seconds,
        arrayZip(
            arrayFilter((x, n, before) -> n > 0 AND before = 0, positions, depth,
                        arrayPopBack(arrayPushFront(depth, 0))),
            arrayFilter((x, n) -> n = 0, positions, depth)) AS segments
    FROM
    (
        -- Merge overlapping segments with a sweep: +1 at each start, -1 at each end (starts first
        -- at equal positions, so touching segments merge). Starts are stored as -1 and ends as +1
        -- so the tuples' natural order is the sweep's order (a plain arraySort is cheapest).
        SELECT
            org, course_key, video_id, user_id, plays, duration, first_viewed_at, last_viewed_at, source_changed_at,
            arraySort(arrayConcat(arrayMap(s -> (s.1, -1), raw_segments), arrayMap(s -> (s.2, 1), raw_segments)))
                AS sweep,
            sweep.1 AS positions,
            arrayCumSum(arrayMap(d -> -d, sweep.2)) AS depth
        FROM
        (
            SELECT
                org, course_key, video_id, user_id, plays, first_viewed_at, last_viewed_at, source_changed_at,
                raw_segments, greatest(raw_duration, arrayMax(arrayPushBack(raw_segments.2, 0.))) AS duration
            FROM
            (
                -- Each point next to the one before and after it (0: none), all as whole arrays:
                -- a segment from each play, and each seek made while playing, to the next point.
                SELECT
                    org, course_key, video_id, user_id, first_viewed_at, last_viewed_at, source_changed_at,
                    raw_duration, toUInt32(countEqual(kinds, 1)) AS plays,
                    arrayFilter((segment, kind, previous, next) -> next != 0 AND segment.2 > segment.1
                                    AND (kind = 1 OR (kind = 3 AND previous IN (1, 3))),
                                arrayZip(arrayMap((kind, at, target) -> toFloat64(if(kind = 3, target, at)),
                                                  kinds, positions_at, seek_targets),
                                         arrayMap((next, at) -> toFloat64(if(next = 5 AND at = 0, raw_duration, at)),
                                                  next_kinds, next_positions)),
                                kinds, arrayPopBack(arrayPushFront(kinds, toUInt8(0))), next_kinds) AS raw_segments
                FROM
                (
                    SELECT
                        org, course_key, video_id, user_id, first_viewed_at, last_viewed_at, source_changed_at,
                        raw_duration, kinds, positions_at, seek_targets,
                        arrayPopFront(arrayPushBack(kinds, toUInt8(0))) AS next_kinds,
                        arrayPopFront(arrayPushBack(positions_at, toFloat32(0))) AS next_positions
                    FROM
                    (
                        -- Points in time order (then kind, position, target: whole tuples, so ties
                        -- always sort alike).
                        SELECT
                            v.org AS org, v.course_key AS course_key, v.video_id AS video_id, v.user_id AS user_id,
                            v.first_viewed_at AS first_viewed_at, v.last_viewed_at AS last_viewed_at,
                            v.changed_at AS source_changed_at, v.duration AS raw_duration,
                            arraySort(v.points) AS pts, pts.2 AS kinds, pts.3 AS positions_at, pts.4 AS seek_targets
                        FROM ${database}.analytics_video_learner AS v FINAL
                        WHERE (empty({course_keys:Array(String)}) OR v.course_key IN {course_keys:Array(String)})
                          AND v.user_id IN
                              (SELECT user_id FROM ${database}.analytics_video_learner
                               WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
                                 AND changed_at > (SELECT max(source_changed_at) FROM ${database}.analytics_video_watch WHERE course_key = '')
                                     - toIntervalSecond((SELECT toUInt32(if(count() = 0, 600, argMax(value, updated_at)))
                                         FROM ${database}.analytics_settings WHERE name = 'video_watch_margin_secs')))
                    )
                )
            )
        )
    )
);
