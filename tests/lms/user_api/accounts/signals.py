"""Stand-in for openedx.core.djangoapps.user_api.accounts.signals."""

from django.dispatch import Signal

# sender, user: fired while the LMS retires a user (the platform's "misc" retirement step).
USER_RETIRE_LMS_MISC = Signal()
