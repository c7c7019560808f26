"""
The course analytics model's query module: one function per metric, plain records back.

The model itself (tables, materialized views, views) lives in ``clickhouse/migrations/0030``-``0032``;
docs/reference/analytics.rst describes every table, column and metric. Consumers (dashboards'
datasets, the staff digest, the demo) read metrics through these functions, never their own SQL;
``*_by_course`` functions and ``course_reports`` answer for a batch of courses in one query each.
"""

from .queries import (  # noqa: F401
    at_risk_by_course,
    at_risk_count,
    at_risk_counts,
    at_risk_learners,
    course_blocks,
    course_report,
    course_reports,
    daily_active_learners,
    enrollment_by_mode,
    enrollment_days,
    enrollment_weeks,
    enrollment_weeks_by_course,
    funnel,
    funnels_by_course,
    grades,
    hardest_problems,
    hardest_problems_by_course,
    learner_engagement,
    learner_identities,
    learner_problems,
    learner_status,
    learner_status_pages,
    learner_videos,
    most_abandoned_videos,
    most_abandoned_videos_by_course,
    passing_learners,
    problem_stats,
    problem_stats_by_course,
    section_reach,
    video_dropoff,
    video_stats,
    video_stats_by_course,
    weekly_active_by_course,
    weekly_active_learners,
)
from .records import (  # noqa: F401
    AtRiskLearner,
    CourseBlock,
    CourseReport,
    DailyActive,
    DropoffPoint,
    EnrollmentDay,
    EnrollmentWeek,
    Funnel,
    GradeBucket,
    Grades,
    LearnerEngagement,
    LearnerIdentity,
    LearnerProblem,
    LearnerStatus,
    LearnerVideo,
    ModeCount,
    ProblemStats,
    SectionReach,
    VideoStats,
    WeeklyActive,
)
