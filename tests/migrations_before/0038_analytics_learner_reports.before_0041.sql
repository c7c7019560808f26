-- repeatable: views
-- (tests/test_analytics.py: the one view of 0038 that the refresh of 0040 reads, as it was before
-- 0041 — without the course's passing grade. A site migrated with it is upgraded.)

CREATE OR REPLACE VIEW ${database}.analytics_learner_rollup_compute_for ${on_cluster} AS
WITH changed AS
(
    SELECT course_key, user_id, max(stamp) AS stamped_at
    FROM
    (
        SELECT course_key, user_id, changed_at AS stamp FROM ${database}.analytics_learner_activity
        WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
          AND (empty({user_ids:Array(Int64)}) OR user_id IN {user_ids:Array(Int64)})
        UNION ALL
        SELECT course_key, toInt64(user_id), inserted_at FROM ${database}.course_enrollment
        WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
          AND (empty({user_ids:Array(Int64)}) OR user_id IN {user_ids:Array(Int64)})
        UNION ALL
        SELECT course_key, toInt64(user_id), inserted_at FROM ${database}.course_grades
        WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
          AND (empty({user_ids:Array(Int64)}) OR user_id IN {user_ids:Array(Int64)})
    )
    WHERE stamp > (SELECT argMax(source_changed_at, last_activity_at) FROM ${database}.analytics_learner_rollup WHERE course_key = '')
    GROUP BY course_key, user_id
),
-- The changed learners' ids, computed once: each IN below reads them instead of running the
-- list's three reads again (while planning: 10 ms each on the benchmark's MOOC).
(SELECT groupUniqArray(user_id) FROM changed) AS changed_user_ids
SELECT
    if(position(p.course_key, ':') > 0, splitByChar('+', splitByChar(':', p.course_key)[2])[1],
       splitByChar('/', p.course_key)[1]) AS org,
    p.course_key AS course_key, p.user_id AS user_id,
    a.first_activity_at AS first_activity_at, a.last_activity_at AS last_activity_at,
    a.first_engaged_at AS first_engaged_at, arraySort(a.active_days) AS active_days,
    toUInt32(length(a.problems_attempted)) AS problems_attempted,
    toUInt32(length(a.problems_solved)) AS problems_solved,
    toUInt32(length(a.videos_watched)) AS videos_watched,
    a.events AS events, p.stamped_at AS source_changed_at, a.has_activity AS has_activity,
    e.enrolled AS enrolled, e.mode AS enrollment_mode, e.is_active AS is_active, e.created AS enrolled_at,
    g.graded AS graded, g.percent_grade AS percent_grade, g.letter_grade AS letter_grade, g.is_passing AS is_passing
FROM changed AS p
LEFT JOIN
(
    SELECT course_key, user_id, 1 AS has_activity, first_activity_at, last_activity_at, first_engaged_at, active_days,
           problems_attempted, problems_solved, videos_watched, finalizeAggregation(events) AS events
    FROM ${database}.analytics_learner_activity FINAL
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND user_id IN (SELECT arrayJoin(changed_user_ids))
) AS a ON a.course_key = p.course_key AND a.user_id = p.user_id
LEFT JOIN
(
    -- One enrollment per learner and course (the newest, should an id ever be re-created).
    SELECT course_key, toInt64(user_id) AS user_id, 1 AS enrolled, argMax(mode, id) AS mode,
           argMax(is_active, id) AS is_active, argMax(created, id) AS created
    FROM ${database}.course_enrollment FINAL
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND user_id IN (SELECT arrayJoin(changed_user_ids))
    GROUP BY course_key, user_id
) AS e ON e.course_key = p.course_key AND e.user_id = p.user_id
LEFT JOIN
(
    SELECT course_key, toInt64(user_id) AS user_id, 1 AS graded, percent_grade, letter_grade, is_passing
    FROM ${database}.course_grades FINAL
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND user_id IN (SELECT arrayJoin(changed_user_ids))
) AS g ON g.course_key = p.course_key AND g.user_id = p.user_id;
