"""
The durable outbox: "this object changed" rows written inside the caller's transaction.

A receiver only inserts an :class:`OutboxEntry`; the flusher (``delivery``) later turns entries
into ClickHouse rows and deletes them once ClickHouse has them. Because the entry commits (or
rolls back) with the change itself, no committed change can be missed, whatever happens to
ClickHouse, the broker or a worker in between.
"""

from django.conf import settings
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


class DigestDelivery(models.Model):
    """
    One weekly course digest for one recipient: claimed here before it is sent.

    The unique (course_key, week, user) row is what makes a digest go out once: a run inserts it
    (or takes over a row due for retry) before talking to SMTP, so a second run, or a second
    worker running at the same moment, finds the row and sends nothing. ``digest.sending``
    explains the states.

    .. no_pii: A user id and a course key; the address is read from the user at send time.
    """

    CLAIMED = "claimed"  # a run is sending it now (or died while sending: taken over after a timeout)
    SENT = "sent"
    RETRY = "retry"  # SMTP failed; tried again from next_attempt_at on
    FAILED = "failed"  # refused for good (bad address) or out of attempts
    STATUSES = ((CLAIMED, CLAIMED), (SENT, SENT), (RETRY, RETRY), (FAILED, FAILED))

    id = models.BigAutoField(primary_key=True)
    course_key = models.CharField(max_length=255)
    week = models.CharField(max_length=8, help_text="ISO week, e.g. 2026-W48")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=STATUSES, default=CLAIMED)
    claim = models.CharField(max_length=32, help_text="Which run holds the row (a random token).")
    claimed_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=1)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        app_label = "platform_plugin_aspects"
        constraints = [models.UniqueConstraint(fields=["course_key", "week", "user"], name="aspects_digest_once")]
        indexes = [models.Index(fields=["week", "status"])]

    def __str__(self):
        return f"{self.course_key} {self.week} user {self.user_id}: {self.status}"


class DigestOptOut(models.Model):
    """
    A person who asked for no more digests: for one course, or for every course (empty key).

    .. no_pii: A user id and a course key.
    """

    ALL_COURSES = ""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    course_key = models.CharField(max_length=255, blank=True, default=ALL_COURSES)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "platform_plugin_aspects"
        constraints = [models.UniqueConstraint(fields=["user", "course_key"], name="aspects_digest_opt_out_once")]

    def __str__(self):
        return f"user {self.user_id} opted out of {self.course_key or 'every course'}"
