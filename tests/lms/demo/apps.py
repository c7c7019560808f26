from django.apps import AppConfig


class DemoConfig(AppConfig):
    name = "tests.lms.demo"
    label = "aspects_demo"
