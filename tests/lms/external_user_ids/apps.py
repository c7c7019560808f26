from django.apps import AppConfig


class StandInConfig(AppConfig):
    name = "tests.lms.external_user_ids"
    label = "external_user_ids"
    default_auto_field = "django.db.models.AutoField"
