"""
The Superset endpoints (under ``/aspects/`` in the LMS and Studio).

Every endpoint answers only global staff and the course's staff/instructors (see
``superset.permissions``); everyone else, anonymous users included, gets 403 and no token. Every
answer is JSON; errors are ``{"error": "<short, translated message>"}``:

* 403: anonymous (before the key is even read), or not staff of that course;
* 400: the key is not a course run's (malformed, a content library v1/v2 or one of its blocks, a
  block key where a course key is wanted);
* 404: a course that does not exist (for those who could see it), or no in-context dashboard;
* 405: not a GET; any other path under ``/aspects/``: 404;
* 503 / 502: Superset unreachable or misconfigured / Superset refused. Details go to the server
  log, never to the browser.
"""

from functools import wraps

from django.conf import settings
from django.http import JsonResponse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache

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
from .superset.permissions import NotACourseKey, can_view_course_reports, parse_course_key
from .superset.rison import rison


def _error(status, message):
    return JsonResponse({"error": message}, status=status)


def _json_get(view):
    """``require_GET`` and ``never_cache``, with the 405 in JSON like every other answer."""

    @wraps(view)
    def get_only(request, *args, **kwargs):
        if request.method != "GET":
            response = _error(405, _("Only GET is allowed here."))
            response["Allow"] = "GET"
            return response
        return view(request, *args, **kwargs)

    return never_cache(get_only)


def not_found(request, path=""):  # pylint: disable=unused-argument
    """Any other path under ``/aspects/`` (e.g. a key with slashes that is no course key): a JSON 404."""
    return _error(404, _("Not found."))


class _Refused(Exception):
    """The request gets ``response`` (a JSON error) instead of reports."""

    def __init__(self, response):
        super().__init__(response.status_code)
        self.response = response


def _course_for(request, key_string, blocks=False):
    """
    ``(course_key, usage_key)`` when the user may see the reports of the course ``key_string`` names.

    Raises _Refused with the 403/400/404 answer otherwise. Anonymous users get 403 before the key
    is read, and users without a role 403 before the course is looked up, so the answer does not
    tell outsiders which courses exist.
    """
    if not request.user.is_authenticated:
        raise _Refused(_error(403, _("You do not have permission to view this course's reports.")))
    try:
        course_key, usage_key = parse_course_key(key_string, blocks=blocks)
    except NotACourseKey:
        raise _Refused(_error(400, _("This is not the key of a course."))) from None
    if not can_view_course_reports(request.user, course_key):
        raise _Refused(_error(403, _("You do not have permission to view this course's reports.")))
    overviews = get_model("course_overviews")
    if overviews is None or not overviews.objects.filter(id=course_key).exists():
        raise _Refused(_error(404, _("Unknown course.")))
    return course_key, usage_key


@_json_get
def superset_guest_token(request, course_id):
    """``{"guestToken": ...}`` for the course's dashboards, with the course's RLS clauses."""
    try:
        course_key, _usage_key = _course_for(request, course_id)
        token = issue_guest_token(request.user, course_key)
    except _Refused as refused:
        return refused.response
    except GuestTokenUnavailable as exc:
        return _error(exc.status_code, exc.message)
    return JsonResponse({"guestToken": token})


@_json_get
def superset_instructor_dashboard(request, course_id):
    """The Reports tab's configuration (dashboards, Superset URL, token URL) for a course."""
    try:
        course_key, _usage_key = _course_for(request, course_id)
    except _Refused as refused:
        return refused.response
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


@_json_get
def superset_in_context_dashboard(request, usage_id):
    """Studio in-context metrics: the dashboard for a course or block, pre-filtered on it."""
    try:
        course_key, usage_key = _course_for(request, usage_id, blocks=True)
    except _Refused as refused:
        return refused.response
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
