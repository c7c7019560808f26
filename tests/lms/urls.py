"""URLs of the stand-in LMS: the plugin under /aspects/, as edx-platform mounts it."""

from django.urls import include, re_path

urlpatterns = [
    re_path(r"^aspects/", include("platform_plugin_aspects.urls")),
    re_path(r"", include("tests.lms.instructor_dashboard.urls")),
    re_path(r"", include("tests.lms.courseware.urls")),
]
