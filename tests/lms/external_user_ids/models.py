"""Stand-ins for ExternalIdType and ExternalId."""

import uuid

from django.conf import settings
from django.db import models
from model_utils.models import TimeStampedModel


class ExternalIdType(TimeStampedModel):
    """Kinds of external ids (caliper, xapi, lti)."""

    CALIPER = "caliper"
    XAPI = "xapi"
    LTI = "lti"

    class Meta:
        app_label = "external_user_ids"

    name = models.CharField(max_length=32, blank=False, unique=True, db_index=True)
    description = models.TextField()


class ExternalId(TimeStampedModel):
    """A user's anonymous id towards an external system (the xAPI actor id)."""

    class Meta:
        app_label = "external_user_ids"
        unique_together = (("user", "external_id_type"),)

    external_user_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    external_id_type = models.ForeignKey(ExternalIdType, db_index=True, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
