"""Stand-in for lms.djangoapps.grades.models.PersistentCourseGrade."""

from django.db import models
from model_utils.models import TimeStampedModel
from opaque_keys.edx.django.models import CourseKeyField


class PersistentCourseGrade(TimeStampedModel):
    """A learner's current course grade, as grades_persistentcoursegrade."""

    class Meta:
        app_label = "grades"
        unique_together = [("course_id", "user_id")]

    id = models.BigAutoField(primary_key=True)
    user_id = models.IntegerField(blank=False, db_index=True)
    course_id = CourseKeyField(blank=False, max_length=255)
    course_edited_timestamp = models.DateTimeField(blank=True, null=True)
    course_version = models.CharField(blank=True, max_length=255)
    grading_policy_hash = models.CharField(blank=False, max_length=255)
    percent_grade = models.FloatField(blank=False)
    letter_grade = models.CharField("Letter grade for course", blank=False, max_length=255)
    passed_timestamp = models.DateTimeField("Date learner earned a passing grade", blank=True, null=True)
