"""
A small synthetic course whose every analytics figure is worked out by hand (see the comments and
tests/test_analytics.py), for the analytics model's tests.

Course ``course-v1:Org+AN101+2026``, report day AS_OF = 2026-11-30, passing grade 0.5:

    Week 1 (section 1)          Intro (1.1): problem p1 "Warm-up", video v1 "Welcome" (100 s)
                                Practice (1.2): problem p2 "Hard one"
    Week 2 (section 2)          Deep dive (2.1): video v2 "Lecture" (200 s), problem p3 "Final check"

Learners (user_id: enrollment, grade, what they did, days before AS_OF):
    1 ada  audit, active     0.31      p1 wrong + v1 (20); p1 right + p2 wrong (1)  -> active yesterday too
    2 bob  verified, active  0.90 pass p1 right, p3 right, v1 with a seek (15)    -> passing
    3 cid  audit, active     no grade  p1 half (12), v2 complete                 -> at risk, not graded yet
    4 dee  audit, UNENROLLED 0.10      courseware page (30)                      -> unenrolled
    5 eve  audit, active     0.20      p2 wrong twice, v2 20 s (exactly 7)       -> at risk, boundary
    6 fay  audit, active     0.40      seq_goto into Intro (6); a page 2 days AFTER as_of
    7 gus  audit, active     no grade  course home page only (20)                -> not engaged
    8 hal  honor, active     no grade  nothing (enrolled by staff user 500)
   99 zed  NOT ENROLLED      -         p1 right, v1 whole (2)                    -> never a learner
"""

import json
import uuid
from datetime import date, datetime, time, timedelta, timezone

from .tracking_factory import block_key, make_event

COURSE = "course-v1:Org+AN101+2026"
ORG = "Org"
AS_OF = date(2026, 11, 30)
NAMES = {1: "ada", 2: "bob", 3: "cid", 4: "dee", 5: "eve", 6: "fay", 7: "gus", 8: "hal", 99: "zed"}

P1, P2, P3 = (block_key(COURSE, "problem", n) for n in ("p1", "p2", "p3"))
V1, V2 = (block_key(COURSE, "video", n) for n in ("v1", "v2"))
S1, S1A, S1B = block_key(COURSE, "chapter", "s1"), block_key(COURSE, "sequential", "s1a"), block_key(
    COURSE, "sequential", "s1b")
S2, S2A = block_key(COURSE, "chapter", "s2"), block_key(COURSE, "sequential", "s2a")
U1, U2, U3 = (block_key(COURSE, "vertical", n) for n in ("u1", "u2", "u3"))

# (location, type, display name, section, subsection, unit), in course order.
BLOCKS = [
    (block_key(COURSE, "course", "course"), "course", "Analytics 101", 0, 0, 0),
    (S1, "chapter", "Week 1", 1, 0, 0),
    (S1A, "sequential", "Intro", 1, 1, 0),
    (U1, "vertical", "Unit 1", 1, 1, 1),
    (P1, "problem", "Warm-up", 1, 1, 1),
    (V1, "video", "Welcome", 1, 1, 1),
    (S1B, "sequential", "Practice", 1, 2, 0),
    (U2, "vertical", "Unit 2", 1, 2, 1),
    (P2, "problem", "Hard one", 1, 2, 1),
    (S2, "chapter", "Week 2", 2, 0, 0),
    (S2A, "sequential", "Deep dive", 2, 1, 0),
    (U3, "vertical", "Unit 3", 2, 1, 1),
    (V2, "video", "Lecture", 2, 1, 1),
    (P3, "problem", "Final check", 2, 1, 1),
]

# user_id -> (mode, is_active); zed (99) has none.
ENROLLMENTS = {1: ("audit", True), 2: ("verified", True), 3: ("audit", True), 4: ("audit", False),
               5: ("audit", True), 6: ("audit", True), 7: ("audit", True), 8: ("honor", True)}
# user_id -> (percent, letter, passing)
GRADES = {1: (0.31, "", False), 2: (0.9, "A", True), 4: (0.1, "", False), 5: (0.2, "", False),
          6: (0.4, "", False)}


def at(days_before, seconds=0):
    """A time ``days_before`` AS_OF, at 10:00 UTC plus ``seconds``."""
    return datetime.combine(AS_OF - timedelta(days=days_before), time(10, 0), tzinfo=timezone.utc) + timedelta(
        seconds=seconds)


def _check(user, problem, when, attempt, grade, max_grade):
    return make_event("problem_check", user_id=user, username=NAMES[user], course_key=COURSE, time=when,
                      source="server", block=problem,
                      payload={"problem_id": problem, "attempts": attempt, "grade": grade, "max_grade": max_grade,
                               "success": "correct" if grade == max_grade else "incorrect",
                               "answers": {f"{problem}_2_1": "choice_1"}})


def _video(user, name, video, when, duration, **positions):
    """A browser video event: payload as a JSON *string*, the block named by its short id."""
    payload = {"id": video.rsplit("@", 1)[1], "code": "html5", "duration": duration, **positions}
    return make_event(name, user_id=user, username=NAMES[user], course_key=COURSE, time=when,
                      source="browser", payload=json.dumps(payload))


def _page(user, path, when):
    return make_event(path, user_id=user, username=NAMES[user], course_key=COURSE, time=when, source="server")


def _enrollment(learner, action, when, mode="audit", actor=None):
    return make_event(f"edx.course.enrollment.{action}", user_id=actor or learner,
                      username=NAMES.get(actor or learner, "staff"), course_key=COURSE, time=when, source="server",
                      payload={"user_id": learner, "course_id": COURSE, "mode": mode})


def events():
    """Every tracking event of the course, as the platform hands them to the backends."""
    return [
        # ada: long ago and yesterday
        _check(1, P1, at(20), 1, 0, 2),
        _video(1, "play_video", V1, at(20, 10), 100, currentTime=0),
        _video(1, "pause_video", V1, at(20, 60), 100, currentTime=50),
        _video(1, "play_video", V1, at(20, 110), 100, currentTime=40),
        _video(1, "pause_video", V1, at(20, 130), 100, currentTime=60),
        _check(1, P1, at(1), 2, 2, 2),
        _check(1, P2, at(1, 60), 1, 0, 1),
        # bob: passing; watches v1 with a seek while playing: [0, 30] + [80, 100]
        _check(2, P1, at(15), 1, 2, 2),
        _check(2, P3, at(15, 30), 1, 1, 1),
        _video(2, "play_video", V1, at(15, 60), 100, currentTime=0),
        _video(2, "seek_video", V1, at(15, 90), 100, old_time=30, new_time=80, type="onSlideSeek"),
        _video(2, "pause_video", V1, at(15, 110), 100, currentTime=100),
        # cid: not graded yet, inactive 12 days
        _check(3, P1, at(12), 1, 1, 2),
        _video(3, "play_video", V2, at(12, 10), 200, currentTime=0),
        _video(3, "pause_video", V2, at(12, 210), 200, currentTime=200),
        # dee: unenrolled
        _page(4, f"/courses/{COURSE}/courseware/s1/s1a/", at(30)),
        # eve: inactive exactly 7 days
        _check(5, P2, at(7), 1, 0, 1),
        _check(5, P2, at(7, 30), 2, 0, 1),
        _video(5, "play_video", V2, at(7, 60), 200, currentTime=0),
        _video(5, "stop_video", V2, at(7, 80), 200, currentTime=20),
        # fay: inactive 6 days (and active after AS_OF)
        make_event("seq_goto", user_id=6, username="fay", course_key=COURSE, time=at(6), source="browser",
                   payload=json.dumps({"old": 1, "new": 2, "id": S1A})),
        _page(6, f"/courses/{COURSE}/progress", at(-2)),
        # gus: opened the course home page only
        _page(7, f"/courses/{COURSE}/course/", at(20)),
        # zed: not enrolled, yet active
        _check(99, P1, at(2), 1, 2, 2),
        _video(99, "play_video", V1, at(2, 10), 100, currentTime=0),
        _video(99, "pause_video", V1, at(2, 110), 100, currentTime=100),
        # enrollment events (ada..dee long ago; hal enrolled by staff user 500)
        *[_enrollment(u, "activated", at(40, u)) for u in (1, 2, 3, 4)],
        _enrollment(5, "activated", at(9)),
        _enrollment(6, "activated", at(9, 5)),
        _enrollment(7, "activated", at(2)),
        _enrollment(8, "activated", at(2, 5), mode="honor", actor=500),
        _enrollment(2, "mode_changed", at(10), mode="verified"),
        _enrollment(4, "deactivated", at(3)),
    ]


def _versioned(version=1):
    return [uuid.uuid4(), "2026-11-30 00:00:00.000000+00:00", version, 0]


def write_overview(clickhouse, lowest_passing_grade=0.5, version=1):
    """The course's overview row as the sink writes it (the course published again: a new version)."""
    clickhouse.insert("course_overviews", [[ORG, COURSE, "Analytics 101", "2026-09-01", "", "", "", False,
                                            json.dumps({"lowest_passing_grade": lowest_passing_grade}), "", "",
                                            *_versioned(version)]],
                      ["org", "course_key", "display_name", "course_start", "course_end", "enrollment_start",
                       "enrollment_end", "self_paced", "course_data_json", "created", "modified", "dump_id",
                       "time_last_dumped", "version", "is_deleted"])


def seed_sinks(clickhouse):
    """The current state the sinks would have written: course, blocks, enrollments, grades, profiles."""
    write_overview(clickhouse)
    clickhouse.insert("course_blocks", [
        [ORG, COURSE, location, name, json.dumps({"block_type": kind, "section": section, "subsection": sub,
                                                  "unit": unit, "graded": int(kind == "problem"), "detached": 0}),
         order, "", *_versioned()]
        for order, (location, kind, name, section, sub, unit) in enumerate(BLOCKS, start=1)
    ], ["org", "course_key", "location", "display_name", "xblock_data_json", "order", "edited_on", "dump_id",
        "time_last_dumped", "version", "is_deleted"])
    clickhouse.insert("course_enrollment", [
        [user, COURSE, "2026-10-01", active, mode, NAMES[user], user, *_versioned()]
        for user, (mode, active) in ENROLLMENTS.items()
    ], ["id", "course_key", "created", "is_active", "mode", "username", "user_id", "dump_id", "time_last_dumped",
        "version", "is_deleted"])
    clickhouse.insert("course_grades", [
        [user, user, COURSE, ORG, "v1", "h", percent, letter, passing, "", "", "", *_versioned()]
        for user, (percent, letter, passing) in GRADES.items()
    ], ["id", "user_id", "course_key", "org", "course_version", "grading_policy_hash", "percent_grade",
        "letter_grade", "is_passing", "passed_timestamp", "created", "modified", "dump_id", "time_last_dumped",
        "version", "is_deleted"])
    clickhouse.insert("user_profile", [
        [user, user, name.title(), name, f"{name}@example.com", *_versioned()] for user, name in NAMES.items()
    ], ["id", "user_id", "name", "username", "email", "dump_id", "time_last_dumped", "version", "is_deleted"])
