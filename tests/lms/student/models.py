"""
Stand-ins for edx-platform's UserProfile, CourseEnrollment and CourseAccessRole.

Fields, types and tables are those of edx-platform. ``CourseEnrollment.enroll``, ``unenroll`` and
``change_mode`` fire the same signals as the platform: ENROLL_STATUS_CHANGE on enroll/unenroll
only (not on a mode-only change), and the openedx-events COURSE_ENROLLMENT_CREATED/CHANGED and
COURSE_UNENROLLMENT_COMPLETED.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from opaque_keys.edx.django.models import CourseKeyField
from opaque_keys.edx.keys import CourseKey

from .signals import ENROLL_STATUS_CHANGE


class UserProfile(models.Model):
    """edx-platform's auth_userprofile."""

    GENDER_CHOICES = (("m", "Male"), ("f", "Female"), ("o", "Other/Prefer Not to Say"))
    LEVEL_OF_EDUCATION_CHOICES = (
        ("p", "Doctorate"), ("m", "Master's or professional degree"), ("b", "Bachelor's degree"),
        ("a", "Associate degree"), ("hs", "Secondary/high school"),
        ("jhs", "Junior secondary/junior high/middle school"),
        ("el", "Elementary/primary school"), ("none", "No formal education"), ("other", "Other education"),
    )

    class Meta:
        app_label = "student"
        db_table = "auth_userprofile"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, unique=True, db_index=True, related_name="profile",
                                on_delete=models.CASCADE)
    name = models.CharField(blank=True, max_length=255, db_index=True)
    meta = models.TextField(blank=True)
    courseware = models.CharField(blank=True, max_length=255, default="course.xml")
    language = models.CharField(blank=True, max_length=255, db_index=True)
    location = models.CharField(blank=True, max_length=255, db_index=True)
    year_of_birth = models.IntegerField(blank=True, null=True, db_index=True)
    gender = models.CharField(blank=True, null=True, max_length=6, db_index=True, choices=GENDER_CHOICES)
    level_of_education = models.CharField(blank=True, null=True, max_length=6, db_index=True,
                                          choices=LEVEL_OF_EDUCATION_CHOICES)
    mailing_address = models.TextField(blank=True, null=True)
    city = models.TextField(blank=True, null=True)
    country = models.CharField(blank=True, null=True, max_length=2)
    state = models.CharField(blank=True, null=True, max_length=2)
    goals = models.TextField(blank=True, null=True)
    bio = models.CharField(blank=True, null=True, max_length=3000, db_index=False)
    profile_image_uploaded_at = models.DateTimeField(null=True, blank=True)
    phone_number = models.CharField(blank=True, null=True, max_length=50)


class CourseEnrollment(models.Model):
    """edx-platform's student_courseenrollment (the course FK is a plain key column here)."""

    class Meta:
        app_label = "student"
        unique_together = (("user", "course_id"),)
        ordering = ("user", "course_id")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    course_id = CourseKeyField(max_length=255, db_index=True)
    created = models.DateTimeField(auto_now_add=True, null=True, db_index=True)
    is_active = models.BooleanField(default=True)
    mode = models.CharField(default="audit", max_length=100)

    @classmethod
    def enroll(cls, user, course_key, mode="audit"):
        """Create or re-activate an enrollment, as the platform does."""
        course_key = CourseKey.from_string(str(course_key))
        enrollment, created = cls.objects.get_or_create(user=user, course_id=course_key,
                                                        defaults={"mode": mode, "is_active": True})
        if not created:
            enrollment.is_active, enrollment.mode = True, mode
            enrollment.save()
        ENROLL_STATUS_CHANGE.send(sender=None, event="enroll", user=user, course_id=course_key, mode=mode)
        from openedx_events.learning.signals import COURSE_ENROLLMENT_CHANGED, COURSE_ENROLLMENT_CREATED
        _send_event(COURSE_ENROLLMENT_CREATED if created else COURSE_ENROLLMENT_CHANGED, enrollment)
        return enrollment

    def unenroll(self):
        """Deactivate, as ``update_enrollment(is_active=False)`` does."""
        self.is_active = False
        self.save()
        ENROLL_STATUS_CHANGE.send(sender=None, event="unenroll", user=self.user, course_id=self.course_id,
                                  mode=self.mode)
        from openedx_events.learning.signals import COURSE_UNENROLLMENT_COMPLETED
        _send_event(COURSE_UNENROLLMENT_COMPLETED, self)

    def change_mode(self, mode):
        """A mode-only change: no ENROLL_STATUS_CHANGE, only COURSE_ENROLLMENT_CHANGED (as the platform)."""
        self.mode = mode
        self.save()
        from openedx_events.learning.signals import COURSE_ENROLLMENT_CHANGED
        _send_event(COURSE_ENROLLMENT_CHANGED, self)


def _send_event(signal, enrollment):
    from openedx_events.learning.data import CourseData, CourseEnrollmentData, UserData, UserPersonalData

    user = enrollment.user
    data = CourseEnrollmentData(
        user=UserData(id=user.id, is_active=user.is_active,
                      pii=UserPersonalData(username=user.username, email=user.email, name=user.get_full_name())),
        course=CourseData(course_key=enrollment.course_id),
        mode=enrollment.mode,
        is_active=enrollment.is_active,
        creation_date=enrollment.created or timezone.now(),
    )
    signal.send_event(enrollment=data)


class CourseAccessRole(models.Model):
    """edx-platform's student_courseaccessrole: staff/instructor/... per course or org."""

    class Meta:
        app_label = "student"
        unique_together = ("user", "org", "course_id", "role")

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    org = models.CharField(max_length=64, db_index=True, blank=True)
    course_id = CourseKeyField(max_length=255, db_index=True, blank=True)
    role = models.CharField(max_length=64, db_index=True)



