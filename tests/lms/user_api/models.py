"""Stand-in for UserPreference."""

from django.conf import settings
from django.db import models


class UserPreference(models.Model):
    """A per-user key/value preference (e.g. "pref-lang")."""

    class Meta:
        app_label = "user_api"
        unique_together = ("user", "key")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, db_index=True, related_name="preferences",
                             on_delete=models.CASCADE)
    key = models.CharField(max_length=255, db_index=True)
    value = models.TextField()

    @classmethod
    def get_value(cls, user, preference_key, default=None):
        """The user's value for ``preference_key``, or ``default``."""
        try:
            return cls.objects.get(user=user, key=preference_key).value
        except cls.DoesNotExist:
            return default
