"""
The Superset endpoints (under ``/aspects/`` in the LMS and Studio).

Every endpoint answers only global staff and the course's staff/instructors (see
``superset.permissions``); everyone else, anonymous users included, gets 403 and no token. Superset
trouble becomes a short JSON error (503 unreachable, 502 refused, 503 misconfigured) for the page
to show; details go to the server log, never to the browser.
"""

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey, UsageKey

from .platform import get_model
from .superset.client import SupersetError
from .superset.dashboards import (
    GuestTokenUnavailable,
    embeddable,
    instructor_dashboard_config,
    issue_guest_token,
    reports_unavailable_message,
    superset_public_url,
    user_locale,
)
from .superset.permissions import can_view_course_reports
from .superset.rison import rison


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


def _denied(request, course_key):
    """None when the user may see ``course_key``'s reports, else the 403/404 response.

    Anonymous users and users without a role get 403 before the course is looked up, so the
    answer does not tell outsiders which courses exist.
    """
    forbidden = _error(403, _("You do not have permission to view this course's reports."))
    if not request.user.is_authenticated:
        return forbidden
    if course_key is None:
        return _error(404, _("Unknown course."))
    if not can_view_course_reports(request.user, course_key):
        return forbidden
    overviews = get_model("course_overviews")
    if overviews is None or not overviews.objects.filter(id=course_key).exists():
        return _error(404, _("Unknown course."))
    return None


def _parse_course_key(course_id):
    try:
        return CourseKey.from_string(course_id)
    except InvalidKeyError:
        return None


@require_GET
@never_cache
def superset_guest_token(request, course_id):
    """``{"guestToken": ...}`` for the course's dashboards, with the course's RLS clauses."""
    course_key = _parse_course_key(course_id)
    denied = _denied(request, course_key)
    if denied:
        return denied
    try:
        token = issue_guest_token(request.user, course_key)
    except GuestTokenUnavailable as exc:
        return _error(exc.status_code, exc.message)
    return JsonResponse({"guestToken": token})


@require_GET
@never_cache
def superset_instructor_dashboard(request, course_id):
    """The Reports tab's configuration (dashboards, Superset URL, token URL) for a course."""
    course_key = _parse_course_key(course_id)
    denied = _denied(request, course_key)
    if denied:
        return denied
    try:
        return JsonResponse(instructor_dashboard_config(request.user, course_key))
    except SupersetError as exc:
        return _error(503 if exc.status_code == 503 else 502, reports_unavailable_message(exc))


def _native_filter(filter_id, column, value):
    return {
        "id": filter_id,
        "extraFormData": {"filters": [{"col": column, "op": "IN", "val": [value]}]},
        "filterState": {"value": [value]},
        "ownState": {},
    }


@require_GET
@never_cache
def superset_in_context_dashboard(request, usage_id):
    """Studio in-context metrics: the dashboard for a course or block, pre-filtered on it."""
    usage_key = None
    try:
        usage_key = UsageKey.from_string(usage_id)
        course_key = usage_key.course_key
    except InvalidKeyError:
        course_key = _parse_course_key(usage_id)
    denied = _denied(request, course_key)
    if denied:
        return denied
    block_type = usage_key.block_type if usage_key else "course"
    enabled = settings.ASPECTS_ENABLE_STUDIO_IN_CONTEXT_METRICS
    dashboard = settings.ASPECTS_IN_CONTEXT_DASHBOARDS.get(block_type) if enabled else None
    if not dashboard:
        return _error(404, _("No in-context dashboard for this kind of content."))
    filters = [_native_filter(dashboard["course_filter_key"], settings.IN_CONTEXT_DASHBOARD_COURSE_KEY_COLUMN,
                              str(course_key))]
    if usage_key and dashboard.get("block_filter_key"):
        filters.append(_native_filter(dashboard["block_filter_key"], settings.IN_CONTEXT_DASHBOARD_BLOCK_ID_COLUMN,
                                      str(usage_key)))
    native_filters = rison({f["id"]: f for f in filters})
    try:
        dashboard_id = embeddable(dashboard, user_locale(request.user))["uuid"]
    except SupersetError as exc:
        return _error(503 if exc.status_code == 503 else 502, reports_unavailable_message(exc))
    return JsonResponse({
        "dashboardId": dashboard_id,
        "supersetUrl": superset_public_url(),
        "courseRuns": {course_key.run: {"native_filters": native_filters}},
        "defaultCourseRun": course_key.run,
    })
