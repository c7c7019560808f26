"""Plugin settings, loaded into the LMS and Studio by edx_django_utils.plugins."""
