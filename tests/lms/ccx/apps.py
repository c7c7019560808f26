from django.apps import AppConfig


class StandInConfig(AppConfig):
    name = "tests.lms.ccx"
    label = "ccx"
    default_auto_field = "django.db.models.AutoField"
