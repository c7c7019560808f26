"""
openedx-filters pipeline steps that put the Reports tab into the Instructor Dashboard.

Enable them in ``OPEN_EDX_FILTERS_CONFIG`` (see README, "Dashboards in the Instructor Dashboard"):

* ``AddSupersetTab`` for ``org.openedx.learning.instructor.dashboard.render.started.v1`` (the
  legacy, server-rendered Instructor Dashboard): adds a "Reports" section embedding every
  ``ASPECTS_INSTRUCTOR_DASHBOARDS`` dashboard as a lazily loaded tab;
* ``AddSupersetTabToInstructorDashboard`` for ``org.openedx.learning.instructor.dashboard.tabs.requested.v1``
  (the Instructor Dashboard app, openedx-filters >= 3.16): adds the tab entry; the app then reads
  ``/aspects/superset_instructor_dashboard/<course_id>/``.

Both add the tab only for users the guest-token endpoint would serve, so nobody sees a tab that
can only fail for them.
"""

import uuid

from crum import get_current_user
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _
from opaque_keys.edx.keys import CourseKey
from openedx_filters import PipelineStep

from ..superset.client import SupersetError
from ..superset.dashboards import EMBED_CSS, EMBED_JS, instructor_dashboard_config, reports_unavailable_message
from ..superset.permissions import NotACourseKey, can_view_course_reports, course_run_key, parse_course_key

SECTION_KEY = "aspects"


def _course_key(context):
    """The course run the page is about, or None (no key, or one that names no course run)."""
    course = context.get("course")
    key = getattr(course, "id", None) or context.get("course_id") or context.get("course_key")
    if key is None or isinstance(key, CourseKey):
        return course_run_key(key)
    try:
        return parse_course_key(str(key))[0]
    except NotACourseKey:
        return None


def render_reports(user, course_key):
    """
    The Reports tab's HTML: one lazily loaded tab per dashboard, plus the embedding script.

    When Superset cannot say which dashboards to embed (not synced, unreachable), the tab shows
    why instead of panels that could only fail.
    """
    try:
        config, reports_error = instructor_dashboard_config(user, course_key), None
    except SupersetError as exc:
        config, reports_error = {"superset_dashboards": []}, reports_unavailable_message(exc)
    return render_to_string("platform_plugin_aspects/reports.html", {
        **config,
        "reports_error": reports_error,
        # Same-origin path for the page itself (the absolute URL in config is for the MFE).
        "guest_token_path": reverse("platform_plugin_aspects:superset_guest_token",
                                    kwargs={"course_id": str(course_key)}),
        "dom_id": f"aspects-reports-{uuid.uuid4().hex[:8]}",
        "embed_css": EMBED_CSS,
        "embed_js": EMBED_JS,
    })


class AddSupersetTab(PipelineStep):
    """Adds the "Reports" section to the legacy Instructor Dashboard."""

    def run_filter(self, context, template_name):  # pylint: disable=arguments-differ
        """Append the section to ``context["sections"]`` for course staff; leave others' pages alone."""
        user = get_current_user()
        course_key = _course_key(context)
        if course_key is None or not can_view_course_reports(user, course_key):
            return {"context": context, "template_name": template_name}
        html = render_reports(user, course_key)
        context.setdefault("sections", []).append({
            "section_key": SECTION_KEY,
            "section_display_name": _("Reports"),
            "course_id": str(course_key),
            # The LMS includes "<template_path_prefix><section_key>.html" (our Mako template),
            # which prints "html"; "fragment" keeps the upstream key for custom themes.
            "template_path_prefix": "/instructor_dashboard/",
            "html": html,
            "fragment": html,
        })
        return {"context": context, "template_name": template_name}


class AddSupersetTabToInstructorDashboard(PipelineStep):
    """Adds the "Reports" tab entry to the Instructor Dashboard app's tab list."""

    def run_filter(self, tabs, user, course_key):  # pylint: disable=arguments-differ
        """Append the tab for users who may see the course's reports."""
        if can_view_course_reports(user, course_key):
            tabs = list(tabs or []) + [{
                "tab_id": SECTION_KEY,
                "title": _("Reports"),
                "url": f"/instructor-dashboard/{course_key}/{SECTION_KEY}/",
                "sort_order": 120,
            }]
        return {"tabs": tabs, "user": user, "course_key": course_key}
