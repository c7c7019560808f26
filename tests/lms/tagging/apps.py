from django.apps import AppConfig


class StandInConfig(AppConfig):
    name = "tests.lms.tagging"
    label = "oel_tagging"
    default_auto_field = "django.db.models.AutoField"
