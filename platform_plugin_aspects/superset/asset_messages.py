"""
The shipped dashboards' titles, tab names and labels, marked for translation so that
``make extract_translations`` puts them in the plugin's message catalog (makemessages cannot read
the YAML asset files). ``aspects_superset_sync`` translates each SUPERSET_DASHBOARD_LOCALES copy
with that catalog.

Generated from the asset files by ``python -m platform_plugin_aspects.superset.bundle messages``
(``make extract_translations`` runs it); a test fails while it is out of date. Do not edit.
"""

from django.utils.translation import gettext_noop

MESSAGES = (
    gettext_noop('Active learners'),
    gettext_noop('Active this week'),
    gettext_noop('At-Risk Learners'),
    gettext_noop('At-risk learners'),
    gettext_noop('At-risk learners with names'),
    gettext_noop('Average score'),
    gettext_noop('Average share watched'),
    gettext_noop('Changes waiting'),
    gettext_noop('Course'),
    gettext_noop('Course Dashboard'),
    gettext_noop('Current enrollment by mode'),
    gettext_noop('Delivery per sink (latest)'),
    gettext_noop('Engagement'),
    gettext_noop('Enrolled learners'),
    gettext_noop('Enrollment'),
    gettext_noop('Enrollments over time by mode'),
    gettext_noop('Events'),
    gettext_noop('First-attempt success'),
    gettext_noop('Grade bucket (lower bound)'),
    gettext_noop('Grade distribution'),
    gettext_noop('Graded Subsection'),
    gettext_noop('Grades'),
    gettext_noop('Hardest problems'),
    gettext_noop('Individual Learner'),
    gettext_noop('Learner'),
    gettext_noop('Learner problems'),
    gettext_noop('Learner summary'),
    gettext_noop('Learners'),
    gettext_noop('Learners at risk'),
    gettext_noop('Learners enrolled'),
    gettext_noop('Learners who attempted'),
    gettext_noop('Learners who reached it'),
    gettext_noop('Oldest change (s)'),
    gettext_noop('Operator'),
    gettext_noop('Outbox backlog'),
    gettext_noop('Parts per partition'),
    gettext_noop('Passing learners'),
    gettext_noop('Position (share of the video)'),
    gettext_noop('Problem'),
    gettext_noop('Problems'),
    gettext_noop('Rejected events by reason'),
    gettext_noop('Section reach'),
    gettext_noop('Subsection'),
    gettext_noop('Table freshness'),
    gettext_noop('Tracking events per minute'),
    gettext_noop('Video'),
    gettext_noop('Video drop-off'),
    gettext_noop('Videos'),
    gettext_noop('Viewers'),
    gettext_noop('Viewers by position in the video'),
    gettext_noop('Week'),
    gettext_noop('Weekly active learners'),
)
