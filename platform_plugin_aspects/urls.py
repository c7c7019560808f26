"""URLs, mounted under ``/aspects/`` in the LMS and Studio."""

from django.urls import re_path

from . import views
from .digest.views import digest_unsubscribe

app_name = "platform_plugin_aspects"

# Course and usage keys contain ":", "+" and "@"; they end at the next "/".
urlpatterns = [
    re_path(r"^superset_guest_token/(?P<course_id>[^/]+)/$", views.superset_guest_token,
            name="superset_guest_token"),
    re_path(r"^superset_instructor_dashboard/(?P<course_id>[^/]+)/$", views.superset_instructor_dashboard,
            name="superset_instructor_dashboard"),
    re_path(r"^superset_in_context_dashboard/(?P<usage_id>[^/]+)/$", views.superset_in_context_dashboard,
            name="superset_in_context_dashboard"),
    re_path(r"^digest/unsubscribe/(?P<token>[^/]+)/$", digest_unsubscribe, name="digest_unsubscribe"),
]
