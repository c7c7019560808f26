"""App config of the stand-in Instructor Dashboard."""

from django.apps import AppConfig


class InstructorDashboardConfig(AppConfig):
    """Registers the stand-in page's templates."""

    name = "tests.lms.instructor_dashboard"
    label = "instructor_dashboard"
