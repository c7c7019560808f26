"""
The durable outbox: "this object changed" rows written inside the caller's transaction.

A receiver only inserts an :class:`OutboxEntry`; the flusher (``delivery``) later turns entries
into ClickHouse rows and deletes them once ClickHouse has them. Because the entry commits (or
rolls back) with the change itself, no committed change can be missed, whatever happens to
ClickHouse, the broker or a worker in between.
"""

from django.db import models
from django.utils import timezone


class OutboxEntry(models.Model):
    """
    One pending change for one sink.

    .. no_pii: Holds object keys (ids, course keys); a delete or retirement keeps the identity
       columns needed for its tombstone, which may include a user id.
    """

    UPSERT = "upsert"
    DELETE = "delete"
    ACTIONS = ((UPSERT, "upsert"), (DELETE, "delete"))

    id = models.BigAutoField(primary_key=True)
    sink = models.CharField(max_length=64)
    object_key = models.CharField(max_length=255)
    action = models.CharField(max_length=16, choices=ACTIONS, default=UPSERT)
    payload = models.JSONField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_error = models.TextField(blank=True, default="")
    failed = models.BooleanField(default=False, help_text="Rejected by ClickHouse; kept for replay after a fix.")

    class Meta:
        app_label = "platform_plugin_aspects"
        indexes = [models.Index(fields=["failed", "next_attempt_at", "id"])]

    def __str__(self):
        return f"{self.sink}:{self.object_key} ({self.action})"


class DeliveryStatus(models.Model):
    """
    One row per sink: when it last delivered, for ``aspects_status`` and alerting.

    .. no_pii:
    """

    sink = models.CharField(max_length=64, primary_key=True)
    last_success = models.DateTimeField(null=True)
    last_failure = models.DateTimeField(null=True)
    last_error = models.TextField(blank=True, default="")
    delivered = models.BigIntegerField(default=0)

    class Meta:
        app_label = "platform_plugin_aspects"
