"""Stand-in for openedx.core.djangoapps.waffle_utils."""

from django.apps import AppConfig


class WaffleUtilsConfig(AppConfig):
    name = "tests.lms.waffle_utils"
    label = "waffle_utils"
    default_auto_field = "django.db.models.AutoField"
