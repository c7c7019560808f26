"""
The stand-in of ``lms/djangoapps/instructor/views/instructor_dashboard.py:instructor_dashboard_2``.

Like the platform it builds the sections, runs the real openedx-filters pipeline
``InstructorDashboardRenderStarted`` (configured by OPEN_EDX_FILTERS_CONFIG) and renders whatever
sections the pipeline left, so the plugin's filter step runs exactly as in the LMS.
"""

from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, render
from django.utils.html import format_html
from opaque_keys.edx.keys import CourseKey
from openedx_filters.learning.filters import InstructorDashboardRenderStarted

from tests.lms.course_overviews.models import CourseOverview


def instructor_dashboard(request, course_id):
    """The page: a "Course Info" section, then the sections added by pipeline steps."""
    if not request.user.is_authenticated:
        return HttpResponseForbidden("log in first")
    course = get_object_or_404(CourseOverview, id=CourseKey.from_string(course_id))
    sections = [{
        "section_key": "course_info",
        "section_display_name": "Course Info",
        "html": format_html("<p>{}</p>", course.display_name or course_id),
    }]
    context = {"course": course, "sections": sections}
    context, template_name = InstructorDashboardRenderStarted.run_filter(
        context=context, template_name="instructor_dashboard/instructor_dashboard_2.html",
    )
    return render(request, template_name, context)
