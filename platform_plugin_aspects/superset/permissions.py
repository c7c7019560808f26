"""
Who may see a course's reports: the platform's own course-staff semantics, nothing looser.

Upstream combined ``IsStaffOrReadOnly | IsCourseStaffInstructor``; the first one is true for every
GET, so any logged-in learner could mint a guest token. Here a user needs one of:

* global staff: ``is_staff`` or ``is_superuser`` (an active account);
* a ``CourseAccessRole`` with role "staff" or "instructor" on that very course;
* an org-level ``CourseAccessRole`` (that org, empty ``course_id``) with role "staff" or "instructor",
  which is how the platform's OrgStaffRole / OrgInstructorRole grant access to every course of an org.
"""

from django.db.models import Q
from opaque_keys.edx.django.models import CourseKeyField

from ..platform import get_model

REPORT_ROLES = ("staff", "instructor")


def can_view_course_reports(user, course_key):
    """True when ``user`` may get a guest token for ``course_key``'s dashboards."""
    if user is None or not user.is_authenticated or not user.is_active:
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
