"""Stand-in for common.djangoapps.student.signals.signals."""

from django.dispatch import Signal

# sender=None, event ("enroll"/"unenroll"/...), user, course_id, mode, cost, currency
ENROLL_STATUS_CHANGE = Signal()
