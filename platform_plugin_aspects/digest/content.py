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


@dataclass(frozen=True)
class Figures:
    """What the analytics query module answered for one course and week (ClickHouse only, no LMS)."""

    report: object  # analytics.CourseReport as of the week's Sunday
    enrollment_weeks: tuple  # (previous week, this week): analytics.EnrollmentWeek
    identities: dict  # {user_id: analytics.LearnerIdentity} of the at-risk learners; empty unless PII is on


def fetch_figures_batch(course_keys, week, clickhouse=None, skip_quiet=False):
    """
    ``{course_key: Figures}`` for a batch of courses, from the analytics query module: ClickHouse
    only, so any thread may run it, and one query per figure for the whole batch (a query costs
    ClickHouse more to plan than a small course costs to read).

    "This week" is the ISO week (Monday to Sunday, UTC): the query module's 7-day windows end on
    its Sunday, and at-risk learners are as of that Sunday. With ``skip_quiet``, a course with no
    enrollment, unenrollment or active learner in the week maps to None, known after the two
    cheapest queries (on most sites most courses are quiet any given week).
    """
    from .. import analytics  # pylint: disable=import-outside-toplevel

    keys = [str(key) for key in course_keys]
    sunday = (week.end - timedelta(days=1)).date()
    weeks = analytics.enrollment_weeks_by_course(keys, as_of=sunday, weeks=2, clickhouse=clickhouse)
    active = analytics.weekly_active_by_course(keys, as_of=sunday, weeks=CHART_WEEKS, clickhouse=clickhouse)
    busy = [key for key in keys if not skip_quiet
            or weeks[key][-1].enrollments or weeks[key][-1].unenrollments or active[key][-1].active_learners]
    figures = dict.fromkeys(keys)
    if not busy:
        return figures
    funnels = analytics.funnels_by_course(busy, sunday, clickhouse=clickhouse)
    problems = analytics.hardest_problems_by_course(busy, HARDEST_SHOWN, clickhouse=clickhouse)
    videos = analytics.most_abandoned_videos_by_course(busy, 1, clickhouse=clickhouse)
    counts = analytics.at_risk_counts(busy, sunday, clickhouse=clickhouse)
    at_risk = analytics.at_risk_by_course(busy, sunday, AT_RISK_SHOWN + RETIRED_MARGIN, clickhouse=clickhouse)
    for key in busy:
        report = analytics.CourseReport(
            course_key=key, as_of=sunday, weekly_active=tuple(active[key]), funnel=funnels[key],
            hardest_problems=tuple(problems[key]), most_abandoned_video=videos[key][0] if videos[key] else None,
            at_risk_count=counts[key], at_risk=tuple(at_risk[key]))
        identities = analytics.learner_identities(key, [learner.user_id for learner in report.at_risk],
                                                  clickhouse=clickhouse)
        figures[key] = Figures(report, tuple(weeks[key]), identities)
    return figures


def fetch_figures(course_key, week, clickhouse=None, skip_quiet=False):
    """One course's Figures (None for a quiet course with ``skip_quiet``): :func:`fetch_figures_batch` of one."""
    return fetch_figures_batch([course_key], week, clickhouse, skip_quiet)[str(course_key)]


def assemble(course_key, week, figures):
    """
    The CourseDigest from ``figures``, with what only the LMS knows: the course's name, and which
    learners are retired (dropped from the at-risk list and count, never named or numbered).
    """
    report, (before, this) = figures.report, figures.enrollment_weeks
    allowed = mentionable_learners([learner.user_id for learner in report.at_risk])
    at_risk = [_at_risk(learner, figures.identities.get(learner.user_id))
               for learner in report.at_risk if learner.user_id in allowed]
    *_, active_before, active_now = report.weekly_active
    video = report.most_abandoned_video
    return CourseDigest(
        course_key=str(course_key),
        course_name=_course_name(course_key),
        week=week,
        enrollments=Change(this.enrollments, before.enrollments),
        unenrollments=Change(this.unenrollments, before.unenrollments),
        active_learners=Change(active_now.active_learners, active_before.active_learners),
        passing_learners=report.funnel.passing,
        enrolled_learners=report.funnel.enrolled,
        at_risk_count=report.at_risk_count - (len(report.at_risk) - len(allowed)),
        at_risk=at_risk[:AT_RISK_SHOWN],
        hardest_problems=[BlockFigure(p.display_name, _place(p), p.first_attempt_success_rate, p.learners)
                          for p in report.hardest_problems],
        abandoned_video=video and BlockFigure(video.display_name, _place(video), video.abandonment_rate, video.viewers),
        weekly_active=[(Week.containing(w.start), w.active_learners) for w in report.weekly_active],
    )


def build_digest(course_key, week, clickhouse=None):
    """The CourseDigest of ``course_key`` for ``week`` (a weeks.Week): fetch_figures, then assemble."""
    return assemble(course_key, week, fetch_figures(course_key, week, clickhouse))


RETIRED_MARGIN = 5  # at-risk rows asked beyond the ten shown, so a retired learner left out leaves no gap


def _at_risk(learner, identity):
    """The digest's line for an analytics.AtRiskLearner; named only when the query module gave an identity."""
    name = (identity.name or identity.username) if identity else ""
    return AtRiskLearner(learner.user_id, name, learner.days_inactive, learner.grade_status, learner.percent_grade,
                         learner.passing_grade)


def _place(block):
    """Where a problem or video is: "Section › Subsection" (its names in course_blocks)."""
    return " › ".join(name for name in (block.section_name, block.subsection_name) if name)


def _course_name(course_key):
    overviews = get_model("course_overviews")
    row = overviews.objects.filter(id=course_key).values_list("display_name", flat=True).first() if overviews else None
    return row or str(course_key)
