"""
What a course's digest says: figures for one course and week, read through the analytics query module.

Computed once per course and week, whoever receives it; ``message`` renders it per recipient
(language, unsubscribe link). Every figure comes from ``platform_plugin_aspects.analytics``: this
module asks, it never writes SQL of its own for a metric the query module has.
"""

from dataclasses import dataclass, field
from datetime import timedelta

from ..platform import get_model
from .recipients import mentionable_learners
from .weeks import Week

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


def build_digest(course_key, week, clickhouse=None):
    """
    The CourseDigest of ``course_key`` for ``week`` (a weeks.Week), read from the analytics model.

    "This week" is the ISO week (Monday to Sunday, UTC): the query module's 7-day windows end on
    its Sunday. At-risk learners are as of that Sunday; a retired learner is dropped from the list
    and the count, and names come only while ASPECTS_ENABLE_PII is on (else the user id).
    """
    from .. import analytics  # pylint: disable=import-outside-toplevel

    key = str(course_key)
    sunday = (week.end - timedelta(days=1)).date()
    report = analytics.course_report(key, as_of=sunday, weeks=CHART_WEEKS, hardest=HARDEST_SHOWN,
                                     at_risk_limit=AT_RISK_SHOWN + RETIRED_MARGIN, clickhouse=clickhouse)
    before, this = analytics.enrollment_weeks(key, as_of=sunday, weeks=2, clickhouse=clickhouse)
    at_risk, retired = _mentionable(key, report.at_risk, clickhouse)
    *_, active_before, active_now = report.weekly_active
    video = report.most_abandoned_video
    return CourseDigest(
        course_key=key,
        course_name=_course_name(course_key),
        week=week,
        enrollments=Change(this.enrollments, before.enrollments),
        unenrollments=Change(this.unenrollments, before.unenrollments),
        active_learners=Change(active_now.active_learners, active_before.active_learners),
        passing_learners=report.funnel.passing,
        enrolled_learners=report.funnel.enrolled,
        at_risk_count=report.at_risk_count - retired,
        at_risk=at_risk[:AT_RISK_SHOWN],
        hardest_problems=[BlockFigure(p.display_name, _place(p), p.first_attempt_success_rate, p.learners)
                          for p in report.hardest_problems],
        abandoned_video=video and BlockFigure(video.display_name, _place(video), video.abandonment_rate, video.viewers),
        weekly_active=[(Week.containing(w.start), w.active_learners) for w in report.weekly_active],
    )


RETIRED_MARGIN = 5  # at-risk rows asked beyond the ten shown, so a retired learner left out leaves no gap


def _mentionable(course_key, learners, clickhouse):
    """(the at-risk learners the digest may show, how many of them were retired and left out)."""
    from .. import analytics  # pylint: disable=import-outside-toplevel

    ids = [learner.user_id for learner in learners]
    allowed = mentionable_learners(ids)
    identities = analytics.learner_identities(course_key, [i for i in ids if i in allowed], clickhouse=clickhouse)
    shown = []
    for learner in learners:
        if learner.user_id not in allowed:
            continue
        who = identities.get(learner.user_id)
        shown.append(AtRiskLearner(
            learner.user_id, (who.name or who.username) if who else "", learner.days_inactive, learner.grade_status,
            learner.percent_grade, learner.passing_grade))
    return shown, len(ids) - len(allowed)


def _place(block):
    """Where a problem or video is: "Section › Subsection" (its names in course_blocks)."""
    return " › ".join(name for name in (block.section_name, block.subsection_name) if name)


def _course_name(course_key):
    overviews = get_model("course_overviews")
    row = overviews.objects.filter(id=course_key).values_list("display_name", flat=True).first() if overviews else None
    return row or str(course_key)
