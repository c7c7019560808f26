-- repeatable: views
-- (migrate_clickhouse applies this file again whenever it changes: views hold no data.)
--
-- The course analytics model, part 6: the video reports, over analytics_video_watch (0034).
-- Parameterized and plain views as in 0032 (`course_keys = []` means every course).
--
-- Watched segments. A segment starts at a play (its position) or at a seek made while playing (its
-- target) and ends at the next pause, stop, seek (where it left), play or completion; overlapping
-- segments (re-watching) count once. They are paired from a learner's points of a video, in time
-- order, so late and repeated events change nothing once all are in.
--
-- Kept and fresh. analytics_video_watch keeps each learner-video's pairing, recomputed every
-- minute by analytics_video_watch_refresh (0042) for the learners whose points (or enrollment, see
-- below) changed. A reader takes the kept rows of every learner unchanged since the watermark, and
-- pairs the points of the others itself (analytics_video_watch_compute_for), so every figure is
-- exact whether or not a refresh ran. The watermark is when the last refresh started (its heartbeat
-- row: course_key '', user_id -1) less ASPECTS_ANALYTICS_VIDEO_MARGIN_SECS (600, copied into
-- analytics_settings): every change stamped before it was committed before that refresh started
-- (an insert commits within that margin of its stamp), so that refresh or an earlier one kept it.
-- A learner, not a learner-video, is the unit of "changed" so the check on the kept rows is one
-- integer per row.
--
-- Enrolled or not is kept too (`enrolled`, as of the refresh that wrote the row): a learner whose
-- enrollment row is stamped after the watermark (course_enrollment.inserted_at: a new, changed or
-- deleted enrollment) counts as changed, so the kept rows' flag is exact for everyone else and a
-- reader filters on it instead of looking every kept row's learner up in the course's enrollments
-- (a MOOC's 880,000 kept rows against 50,000 enrollments: a quarter of its video_stats).

-- The learners of these courses with a point or an enrollment row stamped after the watermark:
-- every learner before the first refresh. The query module asks it first (see
-- analytics/queries.py): nobody changed, and a report reads analytics_video_watch_kept_for alone.
-- The views below write the same condition out (a view called inside IN made the dashboards' plain
-- views 100 ms slower to plan).
CREATE OR REPLACE VIEW ${database}.analytics_video_watch_changed_for ${on_cluster} AS
SELECT user_id
FROM ${database}.analytics_video_learner
WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
  AND changed_at > (SELECT max(source_changed_at) FROM ${database}.analytics_video_watch WHERE course_key = '')
      - toIntervalSecond((SELECT toUInt32(if(count() = 0, 600, argMax(value, updated_at)))
                          FROM ${database}.analytics_settings WHERE name = 'video_watch_margin_secs'))
UNION ALL
SELECT toInt64(user_id)
FROM ${database}.course_enrollment
WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
  AND inserted_at > (SELECT max(source_changed_at) FROM ${database}.analytics_video_watch WHERE course_key = '')
      - toIntervalSecond((SELECT toUInt32(if(count() = 0, 600, argMax(value, updated_at)))
                          FROM ${database}.analytics_settings WHERE name = 'video_watch_margin_secs'));

-- The pairing itself, for the changed learners, all their videos in these courses, with whether
-- each learner is enrolled in the course (has an enrollment row, in any state); every row, enrolled
-- or not (readers filter). The refresh (0042) keeps what it returns for every course; readers add
-- it, for their courses, to the kept rows of everyone else.
CREATE OR REPLACE VIEW ${database}.analytics_video_watch_compute_for ${on_cluster} AS
-- The changed learners' ids, computed once: the points read and the enrollment lookup both use them
-- (the lookup then reads only their enrollments, not every enrollment of the site).
WITH (SELECT groupUniqArray(user_id) FROM
      (
          SELECT user_id FROM ${database}.analytics_video_learner
          WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
            AND changed_at > (SELECT max(source_changed_at) FROM ${database}.analytics_video_watch WHERE course_key = '')
                - toIntervalSecond((SELECT toUInt32(if(count() = 0, 600, argMax(value, updated_at)))
                                    FROM ${database}.analytics_settings WHERE name = 'video_watch_margin_secs'))
          UNION ALL
          SELECT toInt64(user_id) FROM ${database}.course_enrollment
          WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
            AND inserted_at > (SELECT max(source_changed_at) FROM ${database}.analytics_video_watch WHERE course_key = '')
                - toIntervalSecond((SELECT toUInt32(if(count() = 0, 600, argMax(value, updated_at)))
                                    FROM ${database}.analytics_settings WHERE name = 'video_watch_margin_secs'))
      )) AS changed_user_ids
-- In stages, one subquery each: a column used several times is then computed and analyzed once
-- (an alias used twice in one SELECT is analyzed twice, and these nest: written as one SELECT,
-- ClickHouse spent longer planning the video reports than running them).
SELECT
    org, course_key, video_id, user_id, plays, duration, watched_seconds, segments,
    if(duration > 0, arrayMap(b -> toUInt8(b), arraySort(arrayDistinct(arrayFlatten(arrayMap(
        s -> range(toUInt32(least(floor(s.1 / duration * 20), 19)),
                   toUInt32(least(greatest(ceil(s.2 / duration * 20), floor(s.1 / duration * 20) + 1), 20))),
        segments))))), []) AS buckets,
    first_viewed_at, last_viewed_at, source_changed_at,
    (course_key, user_id) IN (SELECT course_key, toInt64(user_id) FROM ${database}.course_enrollment FINAL
                              WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
                                AND user_id IN (SELECT arrayJoin(changed_user_ids))) AS enrolled
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
                          AND v.user_id IN (SELECT arrayJoin(changed_user_ids))
                    )
                )
            )
        )
    )
);

-- The kept rows of these courses, as they are: exact for every learner not changed since the
-- watermark. (current_for writes the same SELECT out rather than calling this view: each nested
-- call costs the plain views planning time.)
CREATE OR REPLACE VIEW ${database}.analytics_video_watch_kept_for ${on_cluster} AS
SELECT org, course_key, video_id, user_id, plays, duration, watched_seconds, segments, buckets,
       first_viewed_at, last_viewed_at, enrolled
FROM ${database}.analytics_video_watch AS w FINAL
WHERE (empty({course_keys:Array(String)}) OR w.course_key IN {course_keys:Array(String)})
  AND w.user_id >= 0;

-- Every learner-video of these courses as of now: kept rows of unchanged learners, fresh pairings
-- of the others (see above), each with whether its learner is enrolled.
CREATE OR REPLACE VIEW ${database}.analytics_video_watch_current_for ${on_cluster} AS
SELECT org, course_key, video_id, user_id, plays, duration, watched_seconds, segments, buckets,
       first_viewed_at, last_viewed_at, enrolled
FROM ${database}.analytics_video_watch AS w FINAL
WHERE (empty({course_keys:Array(String)}) OR w.course_key IN {course_keys:Array(String)})
  AND w.user_id >= 0
  AND w.user_id NOT IN
      (SELECT user_id FROM ${database}.analytics_video_learner
       WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
         AND changed_at > (SELECT max(source_changed_at) FROM ${database}.analytics_video_watch WHERE course_key = '')
         - toIntervalSecond((SELECT toUInt32(if(count() = 0, 600, argMax(value, updated_at)))
                             FROM ${database}.analytics_settings WHERE name = 'video_watch_margin_secs'))
       UNION ALL
       SELECT toInt64(user_id) FROM ${database}.course_enrollment
       WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
         AND inserted_at > (SELECT max(source_changed_at) FROM ${database}.analytics_video_watch WHERE course_key = '')
         - toIntervalSecond((SELECT toUInt32(if(count() = 0, 600, argMax(value, updated_at)))
                             FROM ${database}.analytics_settings WHERE name = 'video_watch_margin_secs')))
UNION ALL
SELECT org, course_key, video_id, user_id, plays, duration, watched_seconds, segments, buckets,
       first_viewed_at, last_viewed_at, enrolled
FROM ${database}.analytics_video_watch_compute_for(course_keys = {course_keys:Array(String)});

-- Per learner and video (enrolled learners only): plays, seconds covered by the merged watched
-- segments, share of the video watched, the segments.
CREATE OR REPLACE VIEW ${database}.analytics_learner_videos_for ${on_cluster} AS
SELECT
    org, course_key, video_id, user_id, plays, duration, watched_seconds,
    if(duration > 0, least(watched_seconds / duration, 1), 0) AS watched_share,
    segments, buckets, first_viewed_at, last_viewed_at
FROM ${database}.analytics_video_watch_current_for(course_keys = {course_keys:Array(String)})
WHERE enrolled;

CREATE OR REPLACE VIEW ${database}.analytics_learner_videos ${on_cluster} AS
SELECT * FROM ${database}.analytics_learner_videos_for(course_keys = []);

-- Per video, in course order: viewers (learners who played it), plays, average share watched
-- (0 when nobody played it: its only events a pause or a seek, the play lost), viewers who watched
-- at least 90% (completed), abandonment rate = 1 - completed / viewers (0 without viewers).
CREATE OR REPLACE VIEW ${database}.analytics_video_stats_for ${on_cluster} AS
SELECT
    l.org AS org, l.course_key AS course_key, l.video_id AS video_id,
    b.display_name AS display_name, b.course_order AS course_order,
    b.section_number AS section_number, b.subsection_number AS subsection_number,
    b.section_name AS section_name, b.subsection_name AS subsection_name,
    l.viewers AS viewers, l.total_plays AS plays, l.max_duration AS duration,
    l.average_watched_share AS average_watched_share, l.completed_viewers AS completed_viewers,
    if(l.viewers > 0, 1 - l.completed_viewers / l.viewers, 0) AS abandonment_rate
FROM
(
    SELECT
        any(org) AS org, course_key, video_id,
        countIf(plays > 0) AS viewers, sum(plays) AS total_plays, max(duration) AS max_duration,
        avgOrDefaultIf(watched_share, plays > 0) AS average_watched_share,
        countIf(plays > 0 AND watched_share >= 0.9) AS completed_viewers
    FROM ${database}.analytics_learner_videos_for(course_keys = {course_keys:Array(String)})
    GROUP BY course_key, video_id
) AS l
LEFT JOIN ${database}.analytics_course_blocks_for(course_keys = {course_keys:Array(String)}) AS b
    ON b.course_key = l.course_key AND b.block_id = l.video_id
SETTINGS join_use_nulls = 0;

CREATE OR REPLACE VIEW ${database}.analytics_video_stats ${on_cluster} AS
SELECT * FROM ${database}.analytics_video_stats_for(course_keys = []);

-- Drop-off by position: for each video and each twentieth of it (bucket 0 = first 5%), the
-- viewers whose watched segments cover part of that twentieth.
CREATE OR REPLACE VIEW ${database}.analytics_video_dropoff_for ${on_cluster} AS
SELECT org, course_key, video_id, bucket, bucket / 20 AS position_share, count() AS viewers
FROM
(
    SELECT org, course_key, video_id, arrayJoin(buckets) AS bucket
    FROM ${database}.analytics_learner_videos_for(course_keys = {course_keys:Array(String)})
    WHERE plays > 0 AND duration > 0
)
GROUP BY org, course_key, video_id, bucket;

CREATE OR REPLACE VIEW ${database}.analytics_video_dropoff ${on_cluster} AS
SELECT * FROM ${database}.analytics_video_dropoff_for(course_keys = []);
