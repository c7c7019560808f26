"""URLs of the stand-in LMS: the plugin under /aspects/, as edx-platform mounts it."""

from django.contrib.auth.views import LoginView
from django.urls import include, re_path

urlpatterns = [
    # `make dashboards`: a person logs in as the demo course's staff member.
    re_path(r"^login/$", LoginView.as_view(template_name="demo/login.html"), name="login"),
    re_path(r"^aspects/", include("platform_plugin_aspects.urls")),
    re_path(r"", include("tests.lms.instructor_dashboard.urls")),
    re_path(r"", include("tests.lms.courseware.urls")),
]
