"""The stand-in Instructor Dashboard's URL (the platform's path)."""

from django.urls import re_path

from .views import instructor_dashboard

# edx-platform's COURSE_ID_PATTERN: "course-v1:Org+Course+Run" and the deprecated "Org/Course/Run".
COURSE_ID_PATTERN = r"(?P<course_id>[^/+]+(/|\+)[^/+]+(/|\+)[^/?]+)"

urlpatterns = [
    re_path(rf"^courses/{COURSE_ID_PATTERN}/instructor$", instructor_dashboard, name="instructor_dashboard"),
]
