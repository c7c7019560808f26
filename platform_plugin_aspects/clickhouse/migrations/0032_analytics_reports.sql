-- repeatable: views
-- (migrate_clickhouse applies this file again whenever it changes: views hold no data.)
--
-- The course analytics model (issue 11), part 3: views that join the tables of 0030 with the
-- current state of the sink tables (course_enrollment, course_grades, course_blocks,
-- course_overviews). Nothing here stores data.
--
-- Each report is a parameterized view `analytics_<report>_for(course_keys = [...], ...)` — the
-- query module calls it with one course, or with many at once (the digest reads a batch of courses
-- per query), and `as_of` where "recent" matters; `course_keys = []` means every course — and a
-- plain view `analytics_<report>` over every course for dashboards, whose row-level security adds
-- `org = ...` / `course_key = ...`: ClickHouse pushes that filter down to the primary key of every
-- table read, so a plain view filtered on one course reads that course only.
--
-- Only learners with an enrollment row (active or not) in course_enrollment are learners of a
-- course: activity of staff or of anyone not enrolled is left out of every learner figure. The
-- check is written twice: `user_id IN (enrolled in these courses)`, exact when one course is asked
-- and a fraction of the cost of the (course_key, user_id) pair check per row, and the pair check,
-- which only a query over several courses evaluates (`length(course_keys) = 1 OR ...` folds away).
-- No view exposes a username, name or email except analytics_learner_status_pii.

-- Blocks in course order with the names of their section and subsection.
CREATE OR REPLACE VIEW ${database}.analytics_course_blocks_for ${on_cluster} AS
SELECT
    org, course_key, block_id, block_type, display_name, course_order, section_number, subsection_number,
    unit_number, graded,
    anyIf(display_name, block_type = 'chapter') OVER (PARTITION BY course_key, section_number) AS section_name,
    anyIf(display_name, block_type = 'sequential')
        OVER (PARTITION BY course_key, section_number, subsection_number) AS subsection_name
FROM
(
    SELECT
        org, course_key, location AS block_id,
        JSONExtractString(xblock_data_json, 'block_type') AS block_type,
        display_name, `order` AS course_order,
        toUInt32(JSONExtractUInt(xblock_data_json, 'section')) AS section_number,
        toUInt32(JSONExtractUInt(xblock_data_json, 'subsection')) AS subsection_number,
        toUInt32(JSONExtractUInt(xblock_data_json, 'unit')) AS unit_number,
        toUInt8(JSONExtractUInt(xblock_data_json, 'graded')) AS graded
    FROM ${database}.course_blocks FINAL
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
      AND JSONExtractUInt(xblock_data_json, 'detached') = 0
);

CREATE OR REPLACE VIEW ${database}.analytics_course_blocks ${on_cluster} AS
SELECT * FROM ${database}.analytics_course_blocks_for(course_keys = []);

-- The learner status, the at-risk learners and the learner engagement read the kept merge of
-- each learner's activity: 0038.

-- Per learner and problem (enrolled learners only).
CREATE OR REPLACE VIEW ${database}.analytics_learner_problems_for ${on_cluster} AS
SELECT
    p.org AS org, p.course_key AS course_key, p.problem_id AS problem_id, p.user_id AS user_id,
    p.attempts AS attempts, p.best_score AS best_score, p.solved AS solved,
    p.first_attempt.3 AS first_attempt_correct, p.last_score.2 AS last_score,
    p.first_attempt_at AS first_attempt_at, p.last_attempt_at AS last_attempt_at
FROM ${database}.analytics_problem_learner AS p FINAL
WHERE (empty({course_keys:Array(String)}) OR p.course_key IN {course_keys:Array(String)})
  AND p.user_id IN (SELECT toInt64(user_id) FROM ${database}.course_enrollment FINAL
         WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)}))
  AND (length({course_keys:Array(String)}) = 1
       OR (p.course_key, p.user_id) IN (SELECT course_key, toInt64(user_id) FROM ${database}.course_enrollment FINAL
         WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})));

CREATE OR REPLACE VIEW ${database}.analytics_learner_problems ${on_cluster} AS
SELECT * FROM ${database}.analytics_learner_problems_for(course_keys = []);

-- Per problem, in course order: learners who attempted, attempts, first-attempt success rate
-- (share of learners whose first attempt was correct), average score (mean of each learner's best
-- score, 0..1), learners who solved it.
CREATE OR REPLACE VIEW ${database}.analytics_problem_stats_for ${on_cluster} AS
SELECT
    l.org AS org, l.course_key AS course_key, l.problem_id AS problem_id,
    b.display_name AS display_name, b.course_order AS course_order,
    b.section_number AS section_number, b.subsection_number AS subsection_number,
    b.section_name AS section_name, b.subsection_name AS subsection_name,
    l.learners AS learners, l.total_attempts AS attempts, l.first_attempt_success_rate AS first_attempt_success_rate,
    l.average_score AS average_score, l.solved_learners AS solved_learners
FROM
(
    SELECT
        any(p.org) AS org, p.course_key AS course_key, p.problem_id AS problem_id, count() AS learners,
        sum(p.attempts) AS total_attempts, avg(p.first_attempt.3) AS first_attempt_success_rate,
        avg(p.best_score) AS average_score, sum(p.solved) AS solved_learners
    FROM ${database}.analytics_problem_learner AS p FINAL
    WHERE (empty({course_keys:Array(String)}) OR p.course_key IN {course_keys:Array(String)})
      AND p.user_id IN (SELECT toInt64(user_id) FROM ${database}.course_enrollment FINAL
             WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)}))
      AND (length({course_keys:Array(String)}) = 1
           OR (p.course_key, p.user_id) IN (SELECT course_key, toInt64(user_id) FROM ${database}.course_enrollment FINAL
             WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})))
    GROUP BY p.course_key, p.problem_id
) AS l
LEFT JOIN ${database}.analytics_course_blocks_for(course_keys = {course_keys:Array(String)}) AS b
    ON b.course_key = l.course_key AND b.block_id = l.problem_id
SETTINGS join_use_nulls = 0;

CREATE OR REPLACE VIEW ${database}.analytics_problem_stats ${on_cluster} AS
SELECT * FROM ${database}.analytics_problem_stats_for(course_keys = []);

-- Per section and subsection, in course order: enrolled learners who reached it (any activity on
-- the section/subsection itself or on a block inside it).
CREATE OR REPLACE VIEW ${database}.analytics_section_reach_for ${on_cluster} AS
SELECT
    any(b.org) AS org, b.course_key AS course_key, b.section_number AS section_number,
    b.level_subsection AS subsection_number,
    if(b.level_subsection = 0, 'section', 'subsection') AS level,
    anyIf(b.block_id, b.block_type = if(b.level_subsection = 0, 'chapter', 'sequential')) AS block_id,
    any(b.section_name) AS section_name,
    if(b.level_subsection = 0, '', any(b.subsection_name)) AS subsection_name,
    min(b.course_order) AS course_order,
    bitmapCardinality(bitmapAnd(groupBitmapMergeState(a.learners), any(e.enrolled))) AS learners
FROM
(
    SELECT org, course_key, block_id, block_type, course_order, section_number, section_name, subsection_name,
           arrayJoin(arrayDistinct([subsection_number, 0])) AS level_subsection
    FROM ${database}.analytics_course_blocks_for(course_keys = {course_keys:Array(String)})
    WHERE section_number > 0
) AS b
LEFT JOIN
(
    SELECT course_key, block_id, learners FROM ${database}.analytics_block_activity
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
) AS a ON a.course_key = b.course_key AND a.block_id = b.block_id
INNER JOIN
(
    SELECT course_key, groupBitmapState(toUInt64(user_id)) AS enrolled FROM ${database}.course_enrollment FINAL
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
    GROUP BY course_key
) AS e ON e.course_key = b.course_key
GROUP BY b.course_key, b.section_number, b.level_subsection
ORDER BY course_order;

CREATE OR REPLACE VIEW ${database}.analytics_section_reach ${on_cluster} AS
SELECT * FROM ${database}.analytics_section_reach_for(course_keys = []);

-- Learners active per course and day (enrolled learners only; `events` counts distinct events of
-- anyone in the course that day).
CREATE OR REPLACE VIEW ${database}.analytics_daily_activity_for ${on_cluster} AS
SELECT
    any(d.org) AS org, d.course_key AS course_key, d.day AS day,
    bitmapCardinality(bitmapAnd(groupBitmapMergeState(d.learners), any(e.enrolled))) AS active_learners
FROM ${database}.analytics_course_daily AS d
INNER JOIN
(
    SELECT course_key, groupBitmapState(toUInt64(user_id)) AS enrolled FROM ${database}.course_enrollment FINAL
    WHERE (empty({course_keys:Array(String)}) OR course_key IN {course_keys:Array(String)})
    GROUP BY course_key
) AS e ON e.course_key = d.course_key
WHERE (empty({course_keys:Array(String)}) OR d.course_key IN {course_keys:Array(String)})
GROUP BY d.course_key, d.day;

CREATE OR REPLACE VIEW ${database}.analytics_daily_activity ${on_cluster} AS
SELECT * FROM ${database}.analytics_daily_activity_for(course_keys = []);

-- Enrollments, unenrollments and mode changes per course and day (distinct learners, from the
-- platform's enrollment events).
CREATE OR REPLACE VIEW ${database}.analytics_enrollment_changes ${on_cluster} AS
SELECT
    any(org) AS org, course_key, day,
    groupBitmapMergeIf(learners, action = 'activated') AS enrollments,
    groupBitmapMergeIf(learners, action = 'deactivated') AS unenrollments,
    groupBitmapMergeIf(learners, action = 'mode_changed') AS mode_changes
FROM ${database}.analytics_enrollment_daily
GROUP BY course_key, day;

-- Current enrollment by mode (active enrollments).
CREATE OR REPLACE VIEW ${database}.analytics_enrollment_modes ${on_cluster} AS
SELECT
    if(position(course_key, ':') > 0, splitByChar('+', splitByChar(':', course_key)[2])[1],
       splitByChar('/', course_key)[1]) AS org,
    course_key, mode, countIf(is_active) AS active_learners, count() AS learners
FROM ${database}.course_enrollment FINAL
GROUP BY course_key, mode;

-- Current grades: one row per course and 10% bucket (bucket 0 = [0, 0.1), 9 = [0.9, 1.0]).
CREATE OR REPLACE VIEW ${database}.analytics_grade_distribution ${on_cluster} AS
SELECT any(org) AS org, course_key, toUInt8(least(floor(percent_grade * 10), 9)) AS bucket,
       bucket / 10 AS lower_bound, count() AS learners, countIf(is_passing) AS passing_learners
FROM ${database}.course_grades FINAL
GROUP BY course_key, bucket;

-- Current letter grades per course ('' = no letter).
CREATE OR REPLACE VIEW ${database}.analytics_letter_grades ${on_cluster} AS
SELECT any(org) AS org, course_key, letter_grade, count() AS learners
FROM ${database}.course_grades FINAL
GROUP BY course_key, letter_grade;
