"""The LMS's XBlock URLs (courseware/urls.py) for the stand-in."""

from django.urls import re_path

from .views import handle_xblock_callback, render_xblock

urlpatterns = [
    re_path(r"^xblock/(?P<usage_id>[^/]+)$", render_xblock, name="render_xblock"),
    re_path(r"^courses/(?P<course_id>[^/]+)/xblock/(?P<usage_id>[^/]+)/handler/(?P<handler>[^/]*)(?:/(?P<suffix>.*))?$",
            handle_xblock_callback, name="xblock_handler"),
]
