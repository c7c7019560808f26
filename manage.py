#!/usr/bin/env python
"""Run the stand-in LMS's management commands (``python manage.py migrate_clickhouse`` etc.)."""
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "test_settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
