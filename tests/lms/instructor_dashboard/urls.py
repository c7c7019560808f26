"""The stand-in Instructor Dashboard's URL (the platform's path)."""

from django.urls import re_path

from .views import instructor_dashboard

urlpatterns = [
    re_path(r"^courses/(?P<course_id>[^/]+)/instructor$", instructor_dashboard, name="instructor_dashboard"),
]
