"""
What a course's digest says: figures for one course and week, read through the analytics query module.

Computed once per course and week, whoever receives it; ``message`` renders it per recipient
(language, unsubscribe link). Every figure comes from ``platform_plugin_aspects.analytics``: this
module asks, it never writes SQL of its own for a metric the query module has.
"""

from dataclasses import dataclass, field

AT_RISK_SHOWN = 10  # the digest names (or numbers) at most this many at-risk learners
HARDEST_SHOWN = 3
CHART_WEEKS = 8


@dataclass(frozen=True)
class Change:
    """A figure for the digest's week next to the week before."""

    current: int
    previous: int

    @property
    def delta(self):
        return self.current - self.previous


@dataclass(frozen=True)
class AtRiskLearner:
    """One at-risk learner: ``name`` only while ASPECTS_ENABLE_PII is on (else staff see the user id)."""

    user_id: int
    name: str
    days_inactive: int
    grade_status: str  # "not graded yet" or "below passing"
    percent_grade: float | None
    passing_grade: float

    @property
    def label(self):
        """What the email calls the learner."""
        return self.name or f"#{self.user_id}"


@dataclass(frozen=True)
class BlockFigure:
    """A problem or video with its place in the course ("Section 2 › Subsection 1 › Unit 3")."""

    name: str
    place: str
    value: float  # problems: first-attempt success rate; video: share of viewers who stopped before the end
    learners: int

    @property
    def percent(self):
        """``value`` as a whole percentage, for the email."""
        return round(self.value * 100)


@dataclass
class CourseDigest:
    """Everything one course's digest shows for one week."""

    course_key: str
    course_name: str
    week: object  # weeks.Week
    enrollments: Change
    unenrollments: Change
    active_learners: Change
    passing_learners: int
    enrolled_learners: int
    at_risk_count: int
    at_risk: list = field(default_factory=list)  # [AtRiskLearner], at most AT_RISK_SHOWN
    hardest_problems: list = field(default_factory=list)  # [BlockFigure], at most HARDEST_SHOWN
    abandoned_video: BlockFigure | None = None
    weekly_active: list = field(default_factory=list)  # [(Week, learners)], oldest first, CHART_WEEKS long

    @property
    def quiet(self):
        """Nothing happened: no enrollment, no unenrollment, no active learner in the week."""
        return not (self.enrollments.current or self.unenrollments.current or self.active_learners.current)


def build_digest(course_key, week):
    """The CourseDigest of ``course_key`` for ``week`` (a weeks.Week), read from the analytics model."""
    raise NotImplementedError("waiting for the analytics query module (issue 11)")
