from django.apps import AppConfig


class StudentConfig(AppConfig):
    name = "tests.lms.student"
    label = "student"
    default_auto_field = "django.db.models.AutoField"
