"""
Learner state: enrollments, grades, profiles, external ids, and the user fan-out (username/email
changes and retirement).

Enrollments and grades are keyed ``<user_id>:<course_key>`` because that is what the openedx-events
carry; loading a batch of them costs one query, not one per change or per course.
"""

import json
import logging

from django.conf import settings
from opaque_keys import InvalidKeyError
from opaque_keys.edx.keys import CourseKey

from .base import Sink, all_sinks, format_timestamp, get_sink, register, text
from .retirement import retire_users

log = logging.getLogger(__name__)


def pii_enabled():
    """Whether usernames may be copied into non-PII tables (ASPECTS_ENABLE_PII, default False)."""
    return bool(getattr(settings, "ASPECTS_ENABLE_PII", False))


class UserCourseSink(Sink):
    """A sink whose objects are identified by (user_id, course_key)."""

    course_field = "course_id"
    uses_records = True

    def object_key(self, instance):
        return f"{instance.user_id}:{getattr(instance, self.course_field)}"

    @staticmethod
    def split_key(key):
        user_id, _, course_key = key.partition(":")
        return int(user_id), course_key

    def load(self, keys):
        """
        One query for the whole batch: every (user, course) of the users and courses it names.

        That may read a few rows nobody asked for (another of those users' enrollments in one of
        those courses); they are left out. A key that names no valid course cannot match anything.
        """
        user_ids, courses = set(), set()
        for key in keys:
            try:
                user_id, course_key = self.split_key(key)
                courses.add(CourseKey.from_string(course_key))
                user_ids.add(user_id)
            except (ValueError, InvalidKeyError):
                log.warning("Outbox key %r of %s names no user and course; nothing to deliver", key, self.name)
        if not courses:
            return {}
        wanted = set(keys)
        queryset = self.queryset().filter(user_id__in=user_ids, **{f"{self.course_field}__in": courses})
        return {key: obj for obj in self.fetch(queryset) if (key := self.object_key(obj)) in wanted}


@register
class CourseEnrollmentSink(UserCourseSink):
    """CourseEnrollment → course_enrollment (username only when ASPECTS_ENABLE_PII is on)."""

    name = "course_enrollment"
    table = "course_enrollment"
    columns = ("id", "course_key", "created", "is_active", "mode", "username", "user_id")
    identity_columns = ("course_key", "user_id", "id")
    pii_columns = ("username",)
    select_related = ("user",)
    order = 30

    def identity(self, instance):
        return {"course_key": str(instance.course_id), "user_id": instance.user_id, "id": instance.id}

    def row_options(self):
        return {"with_username": pii_enabled()}

    def row(self, enrollment, with_username=None):
        if with_username is None:
            with_username = pii_enabled()
        return (
            enrollment.id, str(enrollment.course_id), format_timestamp(enrollment.created), bool(enrollment.is_active),
            text(enrollment.mode), enrollment.user.username if with_username else "", enrollment.user_id,
        )


@register
class CourseGradeSink(UserCourseSink):
    """PersistentCourseGrade → course_grades: the current grade of each learner in each course."""

    name = "course_grade"
    table = "course_grades"
    columns = (
        "id", "user_id", "course_key", "org", "percent_grade", "letter_grade", "is_passing", "passed_timestamp",
        "course_version", "grading_policy_hash", "created", "modified",
    )
    identity_columns = ("course_key", "user_id")
    order = 40

    def identity(self, instance):
        return {"course_key": str(instance.course_id), "user_id": instance.user_id}

    def row(self, grade):
        course_key = grade.course_id
        return (
            grade.id, grade.user_id, str(course_key), text(getattr(course_key, "org", "")),
            float(grade.percent_grade or 0.0), text(grade.letter_grade), grade.passed_timestamp is not None,
            format_timestamp(grade.passed_timestamp), text(grade.course_version), text(grade.grading_policy_hash),
            format_timestamp(grade.created), format_timestamp(grade.modified),
        )


def sanitized_meta(raw):
    """
    ``UserProfile.meta`` reduced to the keys in ASPECTS_USER_PROFILE_META_KEYS (default: none).

    The platform stores live session ids there (PREVENT_CONCURRENT_LOGINS), so it never leaves
    the LMS raw.
    """
    allowed = getattr(settings, "ASPECTS_USER_PROFILE_META_KEYS", [])
    try:
        meta = json.loads(raw) if raw else {}
    except (TypeError, ValueError):
        meta = {}
    if not isinstance(meta, dict):
        meta = {}
    return json.dumps({k: meta[k] for k in allowed if k in meta}, sort_keys=True, ensure_ascii=False)


@register
class UserProfileSink(Sink):
    """UserProfile → user_profile (PII: off unless enabled)."""

    name = "user_profile"
    table = "user_profile"
    columns = (
        "id", "user_id", "name", "username", "email", "meta", "courseware", "language", "location", "year_of_birth",
        "gender", "level_of_education", "mailing_address", "city", "country", "state", "goals", "bio",
        "profile_image_uploaded_at", "phone_number",
    )
    identity_columns = ("id", "user_id")
    pii = True
    select_related = ("user",)
    order = 60
    uses_records = True

    def identity(self, instance):
        return {"id": instance.id, "user_id": instance.user_id}

    def row(self, profile):
        return (
            profile.id, profile.user_id, text(profile.name), profile.user.username, profile.user.email,
            sanitized_meta(profile.meta), text(profile.courseware), text(profile.language), text(profile.location),
            text(profile.year_of_birth), text(profile.gender), text(profile.level_of_education),
            text(profile.mailing_address), text(profile.city), text(profile.country), text(profile.state),
            text(profile.goals), text(profile.bio), format_timestamp(profile.profile_image_uploaded_at),
            text(profile.phone_number),
        )


@register
class ExternalIdSink(Sink):
    """ExternalId → external_id (PII: links the anonymous xAPI actor to the user)."""

    name = "external_id"
    table = "external_id"
    columns = ("external_user_id", "external_id_type", "username", "user_id")
    identity_columns = ("external_user_id", "user_id")
    pii = True
    select_related = ("user", "external_id_type")
    order = 70
    uses_records = True

    def identity(self, instance):
        return {"external_user_id": str(instance.external_user_id), "user_id": instance.user_id}

    def row(self, external_id):
        return (str(external_id.external_user_id), external_id.external_id_type.name, external_id.user.username,
                external_id.user_id)


@register
class UserSink(Sink):
    """
    auth_user: not a table of its own but the fan-out for user-level changes.

    * A username/email change refreshes every enabled sink that stores them for that user.
    * Retirement (a delete here) removes the users' personal data from every table that holds it
      (``retirement.retire_users``: tables discovered by their columns), one statement per table
      for the whole batch of users.
    """

    name = "auth_user"
    model_key = "auth_user"
    table = None
    identity_columns = ("user_id",)
    dumpable = False
    order = 90

    def is_enabled(self):
        """Retirement and refresh run whenever a sink that stores user data, or tracking events, is enabled."""
        from ..tracking.backend import tracking_enabled  # pylint: disable=import-outside-toplevel

        return any(sink.is_enabled() for sink in all_sinks() if sink.pii or getattr(sink, "pii_columns", ())) or \
            tracking_enabled()

    def identity(self, instance):
        return {"user_id": instance.id}

    def build(self, instances, batch, clickhouse):
        """Nothing to write for the user row itself; ``related_changes`` does the work."""

    def related_changes(self, keys, instances, identities):
        user_ids = [int(k) for k in instances]  # retired users (identities) are purged, not refreshed
        changes = []
        for name, related in (("user_profile", "user_id__in"), ("external_id", "user_id__in"),
                              ("course_enrollment", "user_id__in")):
            sink = get_sink(name)
            if sink.is_enabled():
                changes += [(name, sink.object_key(obj)) for obj in sink.model().objects.filter(**{related: user_ids})]
        return changes

    def build_deletes(self, identities, batch, clickhouse):
        """Retire users: the purge runs after this batch's inserts, before its entries are cleared."""
        user_ids = sorted({int(identity["user_id"]) for identity in identities.values() if identity})
        if user_ids:
            batch.after_write.append(lambda: retire_users(user_ids, clickhouse))
