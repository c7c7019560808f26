"""
Signed unsubscribe links: they work without logging in, and only for the person they were sent to.

The token is ``django.core.signing`` over (user id, course key) with a salt of its own, so it cannot be
forged without SECRET_KEY, cannot be replayed for another user or course, and means nothing to any
other signed value of the platform. It never expires: an old digest's link keeps working.
"""

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.urls import reverse

from ..models import DigestOptOut

SALT = "platform_plugin_aspects.digest.unsubscribe"


def make_token(user_id, course_key):
    """The token of ``user_id``'s unsubscribe link for ``course_key``."""
    return signing.dumps({"u": int(user_id), "c": str(course_key)}, salt=SALT, compress=True)


def read_token(token):
    """``(user_id, course_key)`` of a genuine token, else None."""
    try:
        data = signing.loads(token, salt=SALT)
        return int(data["u"]), str(data["c"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def unsubscribe_url(user_id, course_key):
    """The absolute link (LMS_ROOT_URL) a digest carries."""
    path = reverse("platform_plugin_aspects:digest_unsubscribe", kwargs={"token": make_token(user_id, course_key)})
    return getattr(settings, "LMS_ROOT_URL", "").rstrip("/") + path


def opt_out(user_id, course_key=DigestOptOut.ALL_COURSES):
    """Record that ``user_id`` wants no more digests for ``course_key`` ("" = any course). Idempotent."""
    try:
        with transaction.atomic():
            DigestOptOut.objects.get_or_create(user_id=user_id, course_key=str(course_key))
    except IntegrityError:
        pass  # the same click arrived twice at once: the first one recorded it
