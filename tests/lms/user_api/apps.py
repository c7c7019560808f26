from django.apps import AppConfig


class StandInConfig(AppConfig):
    name = "tests.lms.user_api"
    label = "user_api"
    default_auto_field = "django.db.models.AutoField"
