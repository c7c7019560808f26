"""URLs, mounted under ``/aspects/`` in the LMS and Studio."""

from django.urls import re_path

from . import views
from .digest.views import digest_unsubscribe

app_name = "platform_plugin_aspects"

# Course and usage keys contain ":", "+" and "@" and end at the next "/"; the deprecated course keys
# of old courses are "Org/Course/Run" (as edx-platform's COURSE_ID_PATTERN allows). What the key
# names is checked in the view (superset.permissions.parse_course_key), so anything else is a JSON 400.
KEY = r"[^/]+(?:/[^/]+/[^/]+)?"

urlpatterns = [
    re_path(rf"^superset_guest_token/(?P<course_id>{KEY})/$", views.superset_guest_token,
            name="superset_guest_token"),
    re_path(rf"^superset_instructor_dashboard/(?P<course_id>{KEY})/$", views.superset_instructor_dashboard,
            name="superset_instructor_dashboard"),
    re_path(rf"^superset_in_context_dashboard/(?P<usage_id>{KEY})/$", views.superset_in_context_dashboard,
            name="superset_in_context_dashboard"),
    re_path(r"^digest/unsubscribe/(?P<token>[^/]+)/$", digest_unsubscribe, name="digest_unsubscribe"),
    # Last: every other path under /aspects/ answers a JSON 404 too, never the site's HTML page.
    re_path(r"^(?P<path>.*)$", views.not_found, name="not_found"),
]
