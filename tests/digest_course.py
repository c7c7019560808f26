"""
A synthetic course for the digest tests, built through the real pipeline: stand-in LMS objects
(sinks → outbox → ClickHouse) and tracking events stored as the live backend stores them, so the
analytics model's materialized views compute every figure. ``EXPECTED`` holds the figures worked
out by hand from the events below (week 2026-W46: Monday Nov 9 to Sunday Nov 15).

    who    enrollment (events)          activity days (non-home events)   grade
    L1     active (Oct 1)               Oct 1, Nov 12                     0.90 passing
    L2     active (Nov 3)               Nov 3                             0.30  -> at risk: 12 days, below 0.50
    L3     active (Nov 9)               Nov 10                            0.70 passing
    L4     active (Nov 9)               Nov 11                            0.10  (4 days: not at risk)
    L5     active (Nov 10)              Nov 13                            none
    L6,L7  Nov 10, unenrolled Nov 12    -                                 -
    L8     Nov 4, unenrolled Nov 6      Nov 4                             -
    L10    active (Oct 6)               Nov 1                             none  -> at risk: 14 days, not graded
    R      active (Oct 6), RETIRED      Oct 20                            0.20  -> at risk in ClickHouse, never shown
    U9     not enrolled                 Nov 12 (does not count)
    staff  not enrolled                 Nov 12 (does not count)

    enrollments: W45 (Nov 2-8) L2, L8 = 2; W46 L3, L4, L5, L6, L7 = 5
    unenrollments: W45 L8 = 1; W46 L6, L7 = 2
    active learners (enrolled): W45 L2, L8 = 2; W46 L1, L3, L4, L5 = 4; chart W39..W46 = 0 1 0 0 1 1 2 4
    beta   active (no events)           -                                 -     (a beta tester is enrolled too)
    passing 2 (L1, L3) of 8 active enrollments (L1-L5, L10, R, beta)
    problems, first attempt correct / learners: Bayes 0/2, Eigenvalues 1/4, Fourier 2/3, Limits 2/2
    videos: Welcome (L1 watched all, L3 30%) 1 of 2 stopped early; Proofs (L4 10%, L5 20%) 2 of 2
"""

import json
from datetime import datetime, timezone

from django.contrib.auth.models import User
from opaque_keys.edx.keys import CourseKey
from openedx_events.learning.data import CourseData, PersistentCourseGradeData
from openedx_events.learning.signals import PERSISTENT_GRADE_SUMMARY_CHANGED

from platform_plugin_aspects.clickhouse import get_clickhouse
from platform_plugin_aspects.delivery.flusher import drain
from platform_plugin_aspects.digest.weeks import Week
from platform_plugin_aspects.tracking.events import logger_json
from platform_plugin_aspects.tracking.store import parse_texts, store
from platform_plugin_aspects.waffle import COURSE_DIGEST_FLAG
from tests.lms.grades.models import PersistentCourseGrade
from tests.lms.modulestore.api import publish_course
from tests.lms.student.models import CourseAccessRole, CourseEnrollment
from tests.lms.waffle_utils.models import WaffleFlagCourseOverrideModel, WaffleFlagOrgOverrideModel

from .factories import make_course, make_user
from .tracking_factory import block_key, make_event

COURSE = "course-v1:DigestX+Stats+2026"
OTHER_COURSE = "course-v1:DigestX+Other+2026"
WEEK = Week(2026, 46)

EXPECTED = {
    "enrollments": (5, 2), "unenrollments": (2, 1), "active": (4, 2), "passing": 2, "enrolled": 8,
    "chart": [0, 1, 0, 0, 1, 1, 2, 4],
    "at_risk": [("L10", 14, "not graded yet"), ("L2", 12, "grade 0.30, below 0.50")],
    "hardest": [("Bayes", 0), ("Eigenvalues", 25), ("Fourier", 67)],
    "video": ("Proofs video", "Week 2 › Lectures", 100, 2),
    "places": {"Bayes": "Week 1 › Homework", "Eigenvalues": "Week 1 › Homework", "Fourier": "Week 1 › Homework"},
}

PROBLEMS = {"p1": "Eigenvalues", "p2": "Fourier", "p3": "Bayes", "p4": "Limits"}
VIDEOS = {"v1": ("Welcome video", 100.0), "v2": ("Proofs video", 200.0)}


def course_tree():
    """Week 1 › Homework (four problems), Week 2 › Lectures (two videos)."""
    return [
        {"block_type": "course", "block_id": "course", "display_name": "Stats", "children": ["w1", "w2"]},
        {"block_type": "chapter", "block_id": "w1", "display_name": "Week 1", "children": ["hw"]},
        {"block_type": "sequential", "block_id": "hw", "display_name": "Homework", "graded": True, "children": ["u1"]},
        {"block_type": "vertical", "block_id": "u1", "display_name": "Problems", "children": list(PROBLEMS)},
        *({"block_type": "problem", "block_id": key, "display_name": name, "graded": True}
          for key, name in PROBLEMS.items()),
        {"block_type": "chapter", "block_id": "w2", "display_name": "Week 2", "children": ["lec"]},
        {"block_type": "sequential", "block_id": "lec", "display_name": "Lectures", "children": ["u2"]},
        {"block_type": "vertical", "block_id": "u2", "display_name": "Videos", "children": list(VIDEOS)},
        *({"block_type": "video", "block_id": key, "display_name": name} for key, (name, _) in VIDEOS.items()),
    ]


def day(month, number, hour=10):
    return datetime(2026, month, number, hour, 0, tzinfo=timezone.utc)


class SyntheticCourse:
    """Builds the course; ``people`` maps the names above (and the staff) to users."""

    def __init__(self):
        self.people = {}
        self.events = []

    # -- LMS ---------------------------------------------------------------------------------
    def build(self, retire=True):
        make_course(COURSE, display_name="Statistics 101 🌍", lowest_passing_grade="0.50")
        make_course(OTHER_COURSE, display_name="Other course")
        publish_course(COURSE, course_tree())
        grades = {"L1": 0.9, "L2": 0.3, "L3": 0.7, "L4": 0.1, "R": 0.2}
        for name in ("L1", "L2", "L3", "L4", "L5", "L6", "L7", "L8", "L10", "R"):
            user = make_user(f"learner_{name.lower()}", name="Ada Lovelace" if name == "L2" else f"Learner {name}")
            self.people[name] = user
            enrollment = CourseEnrollment.enroll(user, COURSE)
            if name in ("L6", "L7", "L8"):
                enrollment.unenroll()
            if name in grades:
                self.grade(user, grades[name])
        self.people["U9"] = make_user("outsider")
        self.staff()
        self.tracking_events()
        drain(ignore_schedule=True)
        if retire:
            retired = self.people["R"]
            retired.username, retired.email, retired.is_active = f"retired__user_{retired.id}", "", False
            retired.set_unusable_password()
            retired.save()
        return self

    def staff(self):
        """Who has which role: only instructor, staff and org_staff may receive the digest."""
        roles = {"instructor": ("instructor", COURSE, "DigestX"), "staff": ("staff", COURSE, "DigestX"),
                 "org_staff": ("staff", "", "DigestX"), "beta": ("beta_testers", COURSE, "DigestX"),
                 "other_staff": ("staff", OTHER_COURSE, "DigestX"),
                 "other_org_staff": ("staff", "", "OtherOrg")}
        for name, (role, course, org) in roles.items():
            user = make_user(f"{name}_user", email=f"{name}@example.com")
            CourseAccessRole.objects.create(user=user, role=role, org=org,
                                            course_id=CourseKey.from_string(course) if course else None)
            self.people[name] = user
        retired = make_user("retired_staff", email="retired_staff@example.com")
        CourseAccessRole.objects.create(user=retired, role="instructor", org="DigestX",
                                        course_id=CourseKey.from_string(COURSE))
        # Retired the way the platform does it: the address and username replaced, the role kept.
        User.objects.filter(id=retired.id).update(username=f"retired__user_{retired.id}",
                                                  email=f"retired__user_{retired.id}@retired.invalid")
        self.people["global_staff"] = make_user("global_staff", email="global_staff@example.com")
        User.objects.filter(id=self.people["global_staff"].id).update(is_staff=True)
        CourseEnrollment.enroll(self.people["beta"], COURSE)  # beta testers are enrolled like learners

    @staticmethod
    def grade(user, percent):
        key = CourseKey.from_string(COURSE)
        passed = datetime(2026, 11, 1, tzinfo=timezone.utc) if percent >= 0.5 else None
        PersistentCourseGrade.objects.update_or_create(user_id=user.id, course_id=key, defaults={
            "percent_grade": percent, "letter_grade": "Pass" if passed else "", "passed_timestamp": passed,
            "grading_policy_hash": "h", "course_version": "v1"})
        PERSISTENT_GRADE_SUMMARY_CHANGED.send_event(grade=PersistentCourseGradeData(
            user_id=user.id, course=CourseData(course_key=key), course_edited_timestamp=datetime.now(timezone.utc),
            course_version="v1", grading_policy_hash="h", percent_grade=percent,
            letter_grade="Pass" if passed else "", passed_timestamp=passed))

    # -- tracking events ---------------------------------------------------------------------
    def event(self, who, name, when, payload=None, block=None, source="server"):
        user = self.people[who]
        self.events.append(make_event(name, user_id=user.id, username=user.username, course_key=COURSE, time=when,
                                      payload=payload or {}, block=block, source=source))

    def enrollment(self, who, action, when):
        user = self.people[who]
        self.event(who, f"edx.course.enrollment.{action}", when,
                   {"user_id": user.id, "course_id": COURSE, "mode": "audit"})

    def visit(self, who, when):
        """A non-home page event: the learner is active (and engaged) that day."""
        target = block_key(COURSE, "sequential", "hw")
        self.event(who, "edx.ui.lms.sequence.next_selected", when,
                   {"id": target, "current_tab": 1, "tab_count": 1}, source="browser")

    def check(self, who, problem, attempt, correct, when):
        block = block_key(COURSE, "problem", problem)
        self.event(who, "problem_check", when, {"problem_id": block, "grade": int(correct), "max_grade": 1,
                                                "attempts": attempt, "success": "correct" if correct else "incorrect"},
                   block=block)

    def watch(self, who, video, until, when):
        block = block_key(COURSE, "video", video)
        duration = VIDEOS[video][1]
        for offset, (name, position) in enumerate((("play_video", 0.0), ("pause_video", until))):
            self.event(who, name, when.replace(minute=offset * 5), json.dumps(
                {"id": block, "code": "html5", "currentTime": position, "duration": duration}), source="browser")

    def tracking_events(self):
        for who, when in (("L2", day(11, 3)), ("L8", day(11, 4)), ("L3", day(11, 9)), ("L4", day(11, 9)),
                          ("L5", day(11, 10)), ("L6", day(11, 10)), ("L7", day(11, 10)), ("L1", day(10, 1)),
                          ("L10", day(10, 6)), ("R", day(10, 6))):
            self.enrollment(who, "activated", when.replace(hour=8))
        for who, when in (("L8", day(11, 6)), ("L6", day(11, 12)), ("L7", day(11, 12))):
            self.enrollment(who, "deactivated", when.replace(hour=8))
        for who, when in (("L1", day(10, 1)), ("L1", day(11, 12)), ("L2", day(11, 3)), ("L3", day(11, 10)),
                          ("L4", day(11, 11)), ("L5", day(11, 13)), ("L8", day(11, 4)), ("L10", day(11, 1)),
                          ("R", day(10, 20)), ("U9", day(11, 12)), ("staff", day(11, 12))):
            self.visit(who, when)
        # problems: (learner, problem, attempt, correct) on each learner's active day
        checks = [("L1", "p1", 1, True), ("L2", "p1", 1, False), ("L2", "p1", 2, True), ("L3", "p1", 1, False),
                  ("L4", "p1", 1, False), ("L1", "p2", 1, True), ("L3", "p2", 1, True), ("L4", "p2", 1, False),
                  ("L1", "p3", 1, False), ("L5", "p3", 1, False), ("L1", "p4", 1, True), ("L3", "p4", 1, True)]
        active_day = {"L1": day(11, 12), "L2": day(11, 3), "L3": day(11, 10), "L4": day(11, 11), "L5": day(11, 13)}
        for minute, (who, problem, attempt, correct) in enumerate(checks):
            self.check(who, problem, attempt, correct, active_day[who].replace(minute=minute + 10, hour=11))
        for who, video, until in (("L1", "v1", 100.0), ("L3", "v1", 30.0), ("L4", "v2", 20.0), ("L5", "v2", 40.0)):
            self.watch(who, video, until, active_day[who].replace(hour=12))
        clickhouse = get_clickhouse()
        pairs, rejects, held = parse_texts([logger_json(e) for e in self.events])
        assert not rejects and not held, (rejects, held)
        store(clickhouse, pairs)


def digest_on(course=COURSE, on=True):
    """The course-level flag override, as an operator sets it in the Django admin."""
    WaffleFlagCourseOverrideModel.objects.create(
        waffle_flag=COURSE_DIGEST_FLAG, course_id=CourseKey.from_string(course),
        override_choice="on" if on else "off", enabled=True)


def digest_on_for_org(org, on=True):
    WaffleFlagOrgOverrideModel.objects.create(waffle_flag=COURSE_DIGEST_FLAG, org=org,
                                              override_choice="on" if on else "off", enabled=True)


RECIPIENTS = {"instructor@example.com", "staff@example.com", "org_staff@example.com"}
NOT_RECIPIENTS = {"beta@example.com", "retired_staff@example.com", "other_staff@example.com",
                  "other_org_staff@example.com", "global_staff@example.com", "learner_l1@example.com",
                  "outsider@example.com"}
