from django.apps import AppConfig


class StandInConfig(AppConfig):
    name = "tests.lms.course_overviews"
    label = "course_overviews"
    default_auto_field = "django.db.models.AutoField"
