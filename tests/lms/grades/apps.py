from django.apps import AppConfig


class StandInConfig(AppConfig):
    name = "tests.lms.grades"
    label = "grades"
    default_auto_field = "django.db.models.AutoField"
