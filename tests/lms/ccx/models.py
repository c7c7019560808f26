"""Stand-in for CustomCourseForEdX."""

from ccx_keys.locator import CCXLocator
from django.conf import settings
from django.db import models
from opaque_keys.edx.django.models import CourseKeyField


class CustomCourseForEdX(models.Model):
    """A CCX: a coach's custom run of a master course."""

    class Meta:
        app_label = "ccx"

    course_id = CourseKeyField(max_length=255, db_index=True)
    display_name = models.CharField(max_length=255)
    coach = models.ForeignKey(settings.AUTH_USER_MODEL, db_index=True, on_delete=models.CASCADE)
    structure_json = models.TextField(verbose_name="Structure JSON", blank=True, null=True)

    @property
    def locator(self):
        """The CCX's own course key."""
        return CCXLocator.from_course_locator(self.course_id, str(self.id))
