"""Small builders for stand-in LMS objects (plain ORM calls; no factory library needed)."""

import itertools
from datetime import datetime, timezone

from django.contrib.auth.models import User
from opaque_keys.edx.keys import CourseKey

from tests.lms.course_overviews.models import CourseOverview
from tests.lms.student.models import UserProfile

_counter = itertools.count(1)


def make_user(username=None, email=None, name="", **profile_fields):
    """A user with a profile, as registration creates them."""
    n = next(_counter)
    username = username or f"learner{n}"
    user = User.objects.create_user(username=username, email=email or f"{username}@example.com", password="x")
    UserProfile.objects.create(user=user, name=name, **profile_fields)
    return user


def make_course(course_id="course-v1:OpenedX+DemoX+2026", display_name="Demo Course", **fields):
    """A CourseOverview with sensible dates (no microseconds, as the platform often stores them)."""
    key = CourseKey.from_string(course_id)
    defaults = {
        "org": key.org,
        "display_name": display_name,
        "start": datetime(2026, 1, 5, 9, 0, 0, tzinfo=timezone.utc),
        "end": datetime(2026, 6, 30, 0, 0, 0, tzinfo=timezone.utc),
        "lowest_passing_grade": "0.50",
        "language": "en",
        **fields,
    }
    return CourseOverview.objects.create(id=key, **defaults)


def rewind_ids(model):
    """Delete ``model``'s rows and put its auto-increment counter back (after tests with ids beyond Int32)."""
    from django.db import connection  # pylint: disable=import-outside-toplevel

    model.objects.all().delete()
    with connection.cursor() as cursor:
        if connection.vendor == "mysql":
            cursor.execute(f"ALTER TABLE {model._meta.db_table} AUTO_INCREMENT = 1")
        elif connection.vendor == "sqlite":
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [model._meta.db_table])
