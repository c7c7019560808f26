"""
Stand-ins for edx-platform's waffle flag course and org overrides (waffle_utils/models.py).

Same fields and tables as the platform's ConfigurationModels: every change is a new row, the
latest row for a (flag, course) or (flag, org) pair is the one in force, and it counts only while
``enabled``.
"""

from django.db import models
from opaque_keys.edx.django.models import CourseKeyField

OVERRIDE_CHOICES = (("on", "Force On"), ("off", "Force Off"))


class _Override(models.Model):
    waffle_flag = models.CharField(max_length=255, db_index=True)
    override_choice = models.CharField(choices=OVERRIDE_CHOICES, default="on", max_length=3)
    note = models.TextField(blank=True)
    enabled = models.BooleanField(default=False)
    change_date = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    @classmethod
    def _latest(cls, **key):
        row = cls.objects.filter(**key).order_by("-change_date", "-id").first()
        return row.override_choice if row is not None and row.enabled else ""


class WaffleFlagCourseOverrideModel(_Override):
    """Forces a flag on or off for one course."""

    course_id = CourseKeyField(max_length=255, db_index=True)

    class Meta:
        app_label = "waffle_utils"

    @classmethod
    def override_value(cls, waffle_flag, course_id):
        """"on", "off" or "" (no override) for ``course_id``."""
        return cls._latest(waffle_flag=waffle_flag, course_id=course_id)


class WaffleFlagOrgOverrideModel(_Override):
    """Forces a flag on or off for every course of an org."""

    org = models.CharField(max_length=255, db_index=True)

    class Meta:
        app_label = "waffle_utils"

    @classmethod
    def override_value(cls, waffle_flag, org):
        """"on", "off" or "" (no override) for ``org``."""
        return cls._latest(waffle_flag=waffle_flag, org=org)
