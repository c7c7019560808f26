"""Stand-in for openedx.core.djangoapps.content.course_overviews."""
