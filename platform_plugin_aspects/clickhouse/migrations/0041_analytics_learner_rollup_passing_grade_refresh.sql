-- The course analytics model, part 12: keep the course's passing grade in analytics_learner_rollup
-- (the column of 0037_analytics_learner_rollup_passing_grade).
--
-- Replaces the refresh of 0040 by one that also writes the passing grade: every minute, the rows
-- of the learners changed since the watermark (with the grade as of now), and a copy of the kept
-- rows of each course whose overview was stamped since the watermark and whose passing grade
-- differs from the one they hold (same version: the copy, written later, wins over the row it
-- copies; the learners of the first part are left out of it). Then the heartbeat, as in 0040.
--
-- The rows kept before hold no passing grade yet: 0037_analytics_learner_rollup_passing_grade
-- stamped every overview with the migration's time, so every course counts as changed until this
-- refresh has copied its rows with the grade (readers meanwhile take it from the overviews, exact).

DROP VIEW IF EXISTS ${database}.analytics_learner_rollup_refresh ${on_cluster} SYNC;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${database}.analytics_learner_rollup_refresh ${on_cluster}
REFRESH EVERY 1 MINUTE APPEND TO ${database}.analytics_learner_rollup AS
WITH (SELECT passing_grades FROM ${database}.analytics_course_passing_grades_for(course_keys = []))
    AS course_passing_grades
SELECT org, course_key, user_id, first_activity_at, last_activity_at, first_engaged_at, active_days,
       problems_attempted, problems_solved, videos_watched, events, source_changed_at, has_activity,
       enrolled, enrollment_mode, is_active, enrolled_at, graded, percent_grade, letter_grade, is_passing,
       course_passing_grades[course_key] AS passing_grade
FROM ${database}.analytics_learner_rollup_compute_for(course_keys = [], user_ids = [])
UNION ALL
-- The kept rows of the courses whose passing grade changed (the grade of one read: both parts
-- take it from the scalar above).
SELECT org, course_key, user_id, first_activity_at, last_activity_at, first_engaged_at, active_days,
       problems_attempted, problems_solved, videos_watched, events, source_changed_at, has_activity,
       enrolled, enrollment_mode, is_active, enrolled_at, graded, percent_grade, letter_grade, is_passing,
       course_passing_grades[course_key]
FROM ${database}.analytics_learner_rollup FINAL
WHERE user_id >= 0
  -- The courses changed as a whole (user_id -1 in the changed list: an overview stamped since).
  AND course_key IN (SELECT course_key FROM ${database}.analytics_learner_rollup_changed_for(
                         course_keys = [], user_ids = []) WHERE user_id = -1)
  AND ifNull(passing_grade, -1) != ifNull(course_passing_grades[course_key], -1)
  -- Not the learners of the first part: a kept row recomputed for a change that committed late
  -- has the version it had, and of two equal versions in one insert either may win.
  AND (course_key, user_id) NOT IN (SELECT course_key, user_id FROM ${database}.analytics_learner_rollup_changed_for(
                                        course_keys = [], user_ids = []))
UNION ALL
-- The heartbeat, whether or not anything changed: when this refresh started (last_activity_at)
-- and the readers' watermark (source_changed_at: the start less the margin, see 0038).
SELECT '', '', -1, now64(6), now64(6), NULL, [], 0, 0, 0, 0,
       now64(3) - toIntervalSecond((SELECT toUInt32(if(count() = 0, 600, argMax(value, updated_at)))
                                    FROM ${database}.analytics_settings WHERE name = 'video_watch_margin_secs')),
       0, 0, '', false, '', 0, 0, '', false, NULL;
