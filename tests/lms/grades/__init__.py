"""Stand-in for lms.djangoapps.grades."""
