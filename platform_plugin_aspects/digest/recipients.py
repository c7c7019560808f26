"""
Who a course's digest goes to, in which language, and which learners it may name.

Recipients are exactly the course's staff and instructors as the Reports tab counts them
(``superset.permissions.course_staff_roles``: roles on the course or on its org), active, with an
address, not retired and not opted out. Global staff (``is_staff``) are not recipients: they may see
every course, and a digest for each would bury them; they can ask for one with a course role or
preview any course with ``send_course_digests --to``. Learners and beta testers have no such role,
so they never receive one.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import translation

from ..models import DigestOptOut
from ..platform import get_model, platform_object
from ..superset.permissions import course_staff_roles
from ..waffle import COURSE_DIGEST_FLAG

LANGUAGE_PREFERENCE = "pref-lang"  # the platform's UserPreference key for the account language


def is_retired(user):
    """True for a user the platform has retired (or deactivated): never mailed, never named."""
    prefixes = (getattr(settings, "RETIRED_USERNAME_PREFIX", "retired__user_"),
                getattr(settings, "RETIRED_EMAIL_PREFIX", "retired__user_"))
    return (not user.is_active or user.username.startswith(prefixes[0])
            or (user.email or "").startswith(prefixes[1]))


def digest_enabled(course_key):
    """The course-level flag: a course override, else an org override, else the flag itself (off by default)."""
    flag_class = platform_object("course_waffle_flag")
    if flag_class is None:
        raise RuntimeError("CourseWaffleFlag is not installed here (ASPECTS_PLATFORM_PATHS['course_waffle_flag']); "
                           "run the digest in the LMS")
    return flag_class(COURSE_DIGEST_FLAG, __name__).is_enabled(course_key)


def course_recipients(course_key):
    """The users who should receive ``course_key``'s digest, by id."""
    roles = course_staff_roles(course_key)
    if roles is None:
        return []
    opted_out = DigestOptOut.objects.filter(course_key__in=[str(course_key), DigestOptOut.ALL_COURSES])
    users = (get_user_model().objects.filter(id__in=roles.values("user_id"), is_active=True)
             .exclude(email="").exclude(id__in=opted_out.values("user_id")).order_by("id"))
    return [user for user in users if not is_retired(user)]


def languages(users):
    """``{user_id: language code}`` from each user's language preference, else the site's language."""
    preference = get_model("user_preference")
    chosen = {}
    if preference is not None:
        rows = preference.objects.filter(user_id__in=[u.id for u in users], key=LANGUAGE_PREFERENCE)
        chosen = dict(rows.values_list("user_id", "value"))
    return {user.id: _supported(chosen.get(user.id)) for user in users}


def _supported(code):
    try:
        return translation.get_supported_language_variant(code) if code else settings.LANGUAGE_CODE
    except LookupError:
        return settings.LANGUAGE_CODE


def mentionable_learners(user_ids):
    """The ids among ``user_ids`` a digest may mention: users the LMS still has and has not retired."""
    users = get_user_model().objects.filter(id__in=list(user_ids)).only("id", "username", "email", "is_active")
    return {user.id for user in users if not is_retired(user)}
