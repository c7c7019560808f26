from django.apps import AppConfig


class StandInConfig(AppConfig):
    name = "tests.lms.modulestore"
    label = "modulestore"
    default_auto_field = "django.db.models.AutoField"
