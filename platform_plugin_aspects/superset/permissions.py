"""
Who may see a course's reports: the platform's own course-staff semantics, nothing looser.

Upstream combined ``IsStaffOrReadOnly | IsCourseStaffInstructor``; the first one is true for every
GET, so any logged-in learner could mint a guest token. Here a user needs one of:

* global staff: ``is_staff`` or ``is_superuser`` (an active account);
* a ``CourseAccessRole`` with role "staff" or "instructor" on that very course;
* an org-level ``CourseAccessRole`` (that org, empty ``course_id``) with role "staff" or "instructor",
  which is how the platform's OrgStaffRole / OrgInstructorRole grant access to every course of an org.

Reports exist for course runs only. Every key a visitor sends (an endpoint's URL, an XBlock's usage
key) goes through ``parse_course_key`` / ``course_run_key`` here, so a content library (v1
``library-v1:``, v2 ``lib:``), a library's block (``lib-block-v1:``, ``lb:``), a container
(``lct:``) or a malformed string is refused as "not a course" in one place instead of reaching
course-key lookups (which fail on them).
"""

from django.db.models import Q
from opaque_keys import InvalidKeyError
from opaque_keys.edx.django.models import CourseKeyField
from opaque_keys.edx.keys import CourseKey, UsageKey
from opaque_keys.edx.locator import CourseLocator

from ..platform import get_model

REPORT_ROLES = ("staff", "instructor")


class NotACourseKey(ValueError):
    """The string names no course run (nor, where blocks are allowed, a block of one)."""


def course_run_key(key):
    """
    The course run ``key`` names, without branch or version (as course roles name it); else None.

    Course runs are ``CourseLocator`` keys: ``course-v1:``, CCX ``ccx-v1:`` (a subclass) and the
    deprecated ``Org/Course/Run``. Libraries are CourseKeys or LearningContextKeys too, but have no
    course staff and no course reports.
    """
    if not isinstance(key, CourseLocator) or not (key.org and key.course and key.run):
        return None  # a library, or a version-only locator that names no run
    return key.for_branch(None).version_agnostic()


def parse_course_key(value, blocks=False):
    """
    ``(course_key, usage_key)`` for the string ``value``: a course run's key (``usage_key`` None),
    or, with ``blocks``, the usage key of a block in a course run (``course_key`` its course run).

    Raises NotACourseKey for anything else: malformed strings, libraries and their blocks.
    """
    parsers = (CourseKey, UsageKey) if blocks else (CourseKey,)
    for parser in parsers:
        try:
            key = parser.from_string(value)
        except InvalidKeyError:
            continue
        usage_key = key if isinstance(key, UsageKey) else None
        course_key = course_run_key(usage_key.context_key if usage_key else key)
        if course_key is None:
            break
        return course_key, usage_key
    raise NotACourseKey(value)


def can_view_course_reports(user, course_key):
    """True when ``user`` may get a guest token for ``course_key``'s dashboards."""
    course_key = course_run_key(course_key)
    if course_key is None or user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or user.is_superuser:
        return True
    roles = course_staff_roles(course_key)
    return roles is not None and roles.filter(user=user).exists()


def course_staff_roles(course_key):
    """The ``CourseAccessRole`` rows that make someone course staff of ``course_key`` (None: no such model).

    The course digest mails the users of these rows, so it reaches the people the Reports tab serves.
    """
    access_role = get_model("course_access_role")
    if access_role is None:
        return None
    return access_role.objects.filter(
        Q(course_id=course_key) | Q(org=course_key.org, course_id=CourseKeyField.Empty),
        role__in=REPORT_ROLES,
    )
