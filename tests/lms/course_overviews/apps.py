from django.apps import AppConfig


class StandInConfig(AppConfig):
    name = "tests.lms.course_overviews"
    label = "course_overviews"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from tests.lms.modulestore.api import COURSE_DELETED  # pylint: disable=import-outside-toplevel

        COURSE_DELETED.connect(_listen_for_course_delete, weak=False, dispatch_uid="standin.course_overviews.delete")


def _listen_for_course_delete(sender, course_key, **kwargs):  # pylint: disable=unused-argument
    """As edx-platform's course_overviews app does: a course deleted in Studio loses its overview."""
    from .models import CourseOverview  # pylint: disable=import-outside-toplevel

    CourseOverview.objects.filter(id=course_key).delete()
