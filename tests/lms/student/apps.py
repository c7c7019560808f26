from django.apps import AppConfig


class StudentConfig(AppConfig):
    name = "tests.lms.student"
    label = "student"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # The platform loads its Celery app at start-up; so does the stand-in.
        from tests.lms import celery  # noqa: F401  pylint: disable=unused-import,import-outside-toplevel
