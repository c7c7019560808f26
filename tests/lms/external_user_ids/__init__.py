"""Stand-in for openedx.core.djangoapps.external_user_ids."""
