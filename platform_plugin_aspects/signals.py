"""
Receivers: openedx-events first, the platform's Django signals where no openedx-event exists.

Every receiver does the same thing — :func:`record_change` for one sink and one key — so the
wiring is a table, not a handler per model:

* ``MODEL_SIGNALS``: post_save → upsert and post_delete → delete (with the identity needed for the
  tombstone) for each sink whose model is installed;
* ``EVENT_RECEIVERS``: openedx-events mapped to (sink, key);
* ``PLATFORM_SIGNALS``: the platform's own Django signals (course publish/delete, enrollment
  status, retirement), resolved by path so a missing one (Studio vs LMS) is simply skipped.
"""

import logging

from django.db.models.signals import post_delete, post_init, post_save

from .delivery.outbox import record_change
from .models import OutboxEntry
from .platform import course_key_of, platform_object
from .sinks import get_sink

log = logging.getLogger(__name__)

# Sinks whose model's own saves and deletes are the trigger.
MODEL_SIGNALS = ("course_overviews", "user_profile", "external_id", "tag", "taxonomy", "object_tag")
# Sinks triggered by events for saves but whose deletes still come from post_delete.
DELETE_ONLY_SIGNALS = ("course_enrollment", "course_grade")


def _course_key_from_usage(usage_key):
    key = course_key_of(usage_key)
    return str(key) if key else None


EVENT_RECEIVERS = {
    # openedx-events signal name (module attribute) → (sink, function(event kwargs) → key)
    "learning.COURSE_ENROLLMENT_CREATED": ("course_enrollment",
                                           lambda e: f"{e['enrollment'].user.id}:{e['enrollment'].course.course_key}"),
    "learning.COURSE_ENROLLMENT_CHANGED": ("course_enrollment",
                                           lambda e: f"{e['enrollment'].user.id}:{e['enrollment'].course.course_key}"),
    "learning.COURSE_UNENROLLMENT_COMPLETED": (
        "course_enrollment", lambda e: f"{e['enrollment'].user.id}:{e['enrollment'].course.course_key}"),
    "learning.PERSISTENT_GRADE_SUMMARY_CHANGED": ("course_grade",
                                                  lambda e: f"{e['grade'].user_id}:{e['grade'].course.course_key}"),
    "learning.COURSE_PASSING_STATUS_UPDATED": (
        "course_grade",
        lambda e: f"{e['course_passing_status'].user.id}:{e['course_passing_status'].course.course_key}",
    ),
    "content_authoring.XBLOCK_PUBLISHED": ("course_overviews",
                                           lambda e: _course_key_from_usage(e["xblock_info"].usage_key)),
    "content_authoring.XBLOCK_DELETED": ("course_overviews",
                                         lambda e: _course_key_from_usage(e["xblock_info"].usage_key)),
    "content_authoring.COURSE_CATALOG_INFO_CHANGED": ("course_overviews",
                                                      lambda e: str(e["catalog_info"].course_key)),
    "content_authoring.CONTENT_OBJECT_ASSOCIATIONS_CHANGED": (
        "course_overviews", lambda e: _course_key_from_usage(e["content_object"].object_id)),
}


def _event_receiver(sink_name, key_of):
    def receiver(signal=None, sender=None, **kwargs):  # pylint: disable=unused-argument
        try:
            key = key_of(kwargs)
        except (AttributeError, KeyError, TypeError) as exc:
            log.error("Aspects: ignoring malformed %s event: %s", getattr(signal, "event_type", signal), exc)
            return
        if key:
            record_change(sink_name, key)

    return receiver


def _on_save(sink_name):
    def receiver(sender, instance, raw=False, **kwargs):  # pylint: disable=unused-argument
        if not raw:
            record_change(sink_name, get_sink(sink_name).object_key(instance))

    return receiver


def _on_delete(sink_name):
    def receiver(sender, instance, **kwargs):  # pylint: disable=unused-argument
        sink = get_sink(sink_name)
        record_change(sink_name, sink.object_key(instance), OutboxEntry.DELETE, sink.identity(instance))

    return receiver


def _remember_user_contact(sender, instance, **kwargs):  # pylint: disable=unused-argument
    """post_init on User: remember username/email so a save can tell whether they changed (no query)."""
    instance._aspects_contact = (instance.__dict__.get("username"), instance.__dict__.get("email"))


def _user_saved(sender, instance, created=False, update_fields=None, **kwargs):  # pylint: disable=unused-argument
    """A username or email change refreshes every table that stores them for this user."""
    if created or (update_fields and not {"username", "email"} & set(update_fields)):
        return
    if getattr(instance, "_aspects_contact", None) != (instance.username, instance.email):
        record_change("auth_user", instance.pk)
        instance._aspects_contact = (instance.username, instance.email)


def _course_published(sender=None, course_key=None, **kwargs):  # pylint: disable=unused-argument
    if course_key is not None:
        record_change("course_overviews", str(course_key))


def _course_deleted(sender=None, course_key=None, **kwargs):  # pylint: disable=unused-argument
    if course_key is not None:
        record_change("course_overviews", str(course_key), OutboxEntry.DELETE,
                      {"org": getattr(course_key, "org", ""), "course_key": str(course_key)})


def _enroll_status_changed(sender=None, event=None, user=None, course_id=None, **kwargs):  # pylint: disable=unused-argument
    if user is not None and course_id is not None:
        record_change("course_enrollment", f"{user.id}:{course_id}")


def _user_retired(sender=None, user=None, **kwargs):  # pylint: disable=unused-argument
    if user is not None:
        record_change("auth_user", user.id, OutboxEntry.DELETE, {"user_id": user.id})


PLATFORM_SIGNALS = {
    "course_published_signal": _course_published,
    "course_deleted_signal": _course_deleted,
    "enroll_status_change_signal": _enroll_status_changed,
    "user_retire_lms_misc_signal": _user_retired,
}

_connected = False


def connect_receivers():
    """Connect every receiver (idempotent: dispatch_uid on each)."""
    global _connected  # pylint: disable=global-statement
    if _connected:
        return
    from importlib import import_module  # pylint: disable=import-outside-toplevel

    for sink_name in MODEL_SIGNALS + DELETE_ONLY_SIGNALS:
        model = get_sink(sink_name).model()
        if model is None:
            continue
        if sink_name in MODEL_SIGNALS:
            post_save.connect(_on_save(sink_name), sender=model, weak=False, dispatch_uid=f"aspects.save.{sink_name}")
        post_delete.connect(_on_delete(sink_name), sender=model, weak=False, dispatch_uid=f"aspects.delete.{sink_name}")

    user_model = get_sink("auth_user").model()
    if user_model is not None:
        post_init.connect(_remember_user_contact, sender=user_model, dispatch_uid="aspects.user.init")
        post_save.connect(_user_saved, sender=user_model, dispatch_uid="aspects.user.save")

    for dotted, (sink_name, key_of) in EVENT_RECEIVERS.items():
        family, name = dotted.split(".")
        signal = getattr(import_module(f"openedx_events.{family}.signals"), name, None)
        if signal is not None:
            signal.connect(_event_receiver(sink_name, key_of), weak=False, dispatch_uid=f"aspects.event.{name}")

    for path_key, receiver in PLATFORM_SIGNALS.items():
        signal = platform_object(path_key)
        if signal is not None:
            signal.connect(receiver, dispatch_uid=f"aspects.platform.{path_key}")
    _connected = True
