"""Stand-in for CourseOverview with the fields the plugin reads (TimeStampedModel, CourseKey pk)."""

from django.db import models
from model_utils.models import TimeStampedModel
from opaque_keys.edx.django.models import CourseKeyField


class CourseOverview(TimeStampedModel):
    """edx-platform's course_overviews_courseoverview (the fields the plugin reads, plus version)."""

    class Meta:
        app_label = "course_overviews"

    version = models.IntegerField(default=19)
    id = CourseKeyField(db_index=True, primary_key=True, max_length=255)
    org = models.TextField(max_length=255, default="outdated_entry")
    display_name = models.TextField(null=True)
    start = models.DateTimeField(null=True)
    end = models.DateTimeField(null=True)
    advertised_start = models.TextField(null=True)
    announcement = models.DateTimeField(null=True)
    lowest_passing_grade = models.DecimalField(max_digits=5, decimal_places=2, null=True)
    enrollment_start = models.DateTimeField(null=True)
    enrollment_end = models.DateTimeField(null=True)
    invitation_only = models.BooleanField(default=False)
    max_student_enrollments_allowed = models.IntegerField(null=True)
    effort = models.TextField(null=True)
    self_paced = models.BooleanField(default=False)
    enable_proctored_exams = models.BooleanField(default=False)
    entrance_exam_enabled = models.BooleanField(default=False)
    external_id = models.CharField(max_length=128, null=True, blank=True)
    language = models.TextField(null=True)

    def __str__(self):
        return str(self.id)
