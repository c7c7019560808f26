"""The stand-in LMS's Celery app (as lms/celery.py in edx-platform): Redis broker, Django settings."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")

app = Celery("lms")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(["platform_plugin_aspects"])
app.set_default()
