"""Stand-in for lms.djangoapps.ccx."""
