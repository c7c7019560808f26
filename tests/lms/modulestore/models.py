"""
Stand-in for the modulestore: the published tree of each course, stored as JSON so the demo, the
Celery worker and the tests (separate processes) all see the same courses.
"""

from django.db import models
from opaque_keys.edx.django.models import CourseKeyField


class PublishedCourseStructure(models.Model):
    """One course's published blocks: ``[{"block_type", "block_id", "display_name", "children", ...}]``."""

    class Meta:
        app_label = "modulestore"

    course_key = CourseKeyField(max_length=255, primary_key=True)
    blocks_json = models.JSONField(default=list)
