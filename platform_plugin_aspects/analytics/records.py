"""
The plain records the analytics queries return: named tuples, no ClickHouse types. (Named
tuples rather than frozen dataclasses: a MOOC's learner list is 50,000 records, which Python
builds in 17 ms as tuples and in 65 ms as dataclass instances, each with its own dict.)

Fields are only ever added, never renamed: the dashboards, the staff digest and the demo read them.
Learner records carry the numeric ``user_id`` only; who the learner is comes from
:func:`platform_plugin_aspects.analytics.learner_identities`, which answers only when PII is enabled.
Shares and grades are floats between 0 and 1.
"""

from datetime import date, datetime
from typing import NamedTuple, Optional


class Funnel(NamedTuple):
    """Currently enrolled learners, and how many of them went each step further."""

    enrolled: int  #: active enrollments now
    active: int  #: of those, learners with any activity in the course (ever, up to ``as_of``)
    attempted_problem: int  #: of those enrolled, learners who submitted at least one graded problem
    passing: int  #: of those enrolled, learners whose current grade is passing


class ModeCount(NamedTuple):
    """Current enrollments in one mode (audit, verified...)."""

    mode: str
    active_learners: int  #: enrollments currently active
    learners: int  #: every enrollment row, active or not


class EnrollmentDay(NamedTuple):
    """Enrollment events of one day, as distinct learners."""

    day: date
    enrollments: int
    unenrollments: int
    mode_changes: int


class EnrollmentWeek(NamedTuple):
    """Enrollment events in a 7-day window ``[start, end]`` (both days included)."""

    start: date
    end: date
    enrollments: int
    unenrollments: int
    mode_changes: int


class DailyActive(NamedTuple):
    """Enrolled learners with at least one activity event on ``day``."""

    day: date
    active_learners: int


class WeeklyActive(NamedTuple):
    """Enrolled learners active at least once in the 7-day window ``[start, end]``."""

    start: date
    end: date
    active_learners: int


class LearnerEngagement(NamedTuple):
    """One enrolled learner's activity in the course (events = distinct events, all time)."""

    user_id: int
    first_activity_at: Optional[datetime]
    last_activity_at: Optional[datetime]
    active_days: int
    events: int


class CourseBlock(NamedTuple):
    """A published block of the course, in course order, with the names of its section and subsection."""

    block_id: str
    block_type: str
    display_name: str
    course_order: int
    section_number: int
    subsection_number: int
    unit_number: int
    graded: bool
    section_name: str
    subsection_name: str


class SectionReach(NamedTuple):
    """A section (``level='section'``, subsection_number 0) or subsection, and the learners who reached it."""

    section_number: int
    subsection_number: int
    level: str
    block_id: str
    section_name: str
    subsection_name: str
    course_order: int
    learners: int


class ProblemStats(NamedTuple):
    """One problem, with its place in the course, and how enrolled learners did on it."""

    problem_id: str
    display_name: str
    course_order: int  #: position in the course (0 when the block is not in course_blocks)
    section_number: int
    subsection_number: int
    section_name: str
    subsection_name: str
    learners: int  #: learners who submitted it at least once
    attempts: int  #: sum of each learner's attempts
    first_attempt_success_rate: float  #: share of learners whose first attempt was correct
    average_score: float  #: mean of each learner's best score (0..1)
    solved_learners: int  #: learners with at least one correct submission


class LearnerProblem(NamedTuple):
    """One learner on one problem."""

    user_id: int
    problem_id: str
    attempts: int
    best_score: float
    solved: bool
    first_attempt_correct: bool
    last_score: float


class VideoStats(NamedTuple):
    """One video, with its place in the course, and how enrolled learners watched it."""

    video_id: str
    display_name: str
    course_order: int
    section_number: int
    subsection_number: int
    section_name: str
    subsection_name: str
    viewers: int  #: learners who played it
    plays: int
    duration: float  #: seconds (reported by the player, or the furthest position seen)
    average_watched_share: float  #: mean over viewers of the share of the video they watched (0: no viewers)
    completed_viewers: int  #: viewers who watched at least 90% of it
    abandonment_rate: float  #: 1 - completed_viewers / viewers


class LearnerVideo(NamedTuple):
    """One learner on one video: merged watched segments in seconds."""

    user_id: int
    video_id: str
    plays: int
    duration: float
    watched_seconds: float
    watched_share: float
    segments: tuple = ()  #: ((start, end), ...) merged, in seconds


class DropoffPoint(NamedTuple):
    """Viewers whose watched segments cover part of the twentieth of the video starting at ``position_share``."""

    bucket: int
    position_share: float
    viewers: int


class GradeBucket(NamedTuple):
    """Learners whose current grade is in ``[lower_bound, lower_bound + 0.1)`` (the last bucket includes 1.0)."""

    lower_bound: float
    learners: int
    passing_learners: int


class Grades(NamedTuple):
    """The current grades of a course (from course_grades)."""

    graded: int  #: learners with a grade
    passing: int
    passing_rate: float  #: passing / graded (0 when nobody is graded)
    buckets: tuple  #: ten GradeBucket, 0.0 to 0.9
    letters: tuple  #: ((letter_grade, learners), ...), '' = no letter


class LearnerStatus(NamedTuple):
    """One enrollment of the course, as of a day."""

    user_id: int
    enrollment_mode: str
    is_active: bool
    enrolled_at: str
    first_activity_at: Optional[datetime]
    last_activity_at: Optional[datetime]
    last_active_day: Optional[date]  #: latest day with activity, on or before as_of
    days_inactive: Optional[int]  #: as_of - last_active_day, in days
    active_days: int
    active_days_7: int  #: active days among as_of and the 6 days before
    active_days_30: int
    engaged: bool  #: did more than open the course home page
    percent_grade: Optional[float]  #: None: not graded yet
    letter_grade: Optional[str]
    is_passing: bool
    passing_grade: float  #: the course's lowest passing grade
    grade_status: str  #: 'passing', 'below passing' or 'not graded yet'
    problems_attempted: int
    problems_solved: int
    videos_watched: int
    at_risk: bool
    at_risk_reasons: str  #: e.g. "inactive 12 days; grade 0.31 below 0.50"; '' when not at risk


class AtRiskLearner(NamedTuple):
    """A learner at risk (see docs/reference/analytics.rst for the definition) and why."""

    user_id: int
    enrollment_mode: str
    last_activity_at: Optional[datetime]
    last_active_day: Optional[date]
    days_inactive: int
    percent_grade: Optional[float]  #: None: not graded yet
    passing_grade: float
    grade_status: str  #: 'below passing' or 'not graded yet'
    reasons: str


class LearnerIdentity(NamedTuple):
    """Who a learner is (only returned when ASPECTS_ENABLE_PII is on)."""

    user_id: int
    username: str
    name: str
    email: str


class CourseReport(NamedTuple):
    """What the demo prints and the digest sends, in one call."""

    course_key: str
    as_of: date
    funnel: Funnel
    weekly_active: tuple  #: WeeklyActive, oldest first, the last one ends on as_of
    hardest_problems: tuple  #: ProblemStats, hardest first
    most_abandoned_video: Optional[VideoStats]
    at_risk_count: int
    at_risk: tuple  #: AtRiskLearner, longest inactive first (at most ``at_risk_limit``)
